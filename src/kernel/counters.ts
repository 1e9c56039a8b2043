// All the kernel's TCP/IP counters in one read: /proc/net/snmp, /proc/net/netstat, sockstat{,6}.

import type { Counters } from '../model/counters.ts';
import { readSnmp } from './snmp.ts';
import { readSockstat } from './sockstat.ts';

/** Read every source once. Problems (lines the parsers had to skip) are returned, not thrown. */
export function readCounters(): { counters: Counters; problems: string[] } {
  const snmp = readSnmp();
  const sockstat = readSockstat();
  return {
    counters: { sections: snmp.sections, sockstat: sockstat.sections },
    problems: [...snmp.problems, ...sockstat.problems],
  };
}
