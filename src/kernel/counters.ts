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

/** Counters keyed as doctor keys them: "Section.Field", and "sockstat.Line.field". */
export function flattenCounters(c: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [section, fields] of Object.entries(c.sections))
    for (const [f, v] of Object.entries(fields)) out[`${section}.${f}`] = v;
  for (const [line, fields] of Object.entries(c.sockstat))
    for (const [f, v] of Object.entries(fields)) out[`sockstat.${line}.${f}`] = v;
  return out;
}
