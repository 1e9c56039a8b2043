// SYN-queue pressure: cookies sent, SYNs dropped, and the settings that decide between the two.

import type { Finding } from '../../model/finding.ts';
import { type DoctorSnapshot, sysctlNumber } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

export function synQueue(s: DoctorSnapshot): Finding[] {
  const out: Finding[] = [];
  const cookies = (s.deltas['TcpExt.SyncookiesSent'] ?? 0) + (s.deltas['TcpExt.TCPReqQFullDoCookies'] ?? 0);
  const dropped = s.deltas['TcpExt.TCPReqQFullDrop'] ?? 0;
  const syncookies = sysctlNumber(s, 'net.ipv4.tcp_syncookies');
  const synBacklog = sysctlNumber(s, 'net.ipv4.tcp_max_syn_backlog');
  const somaxconn = sysctlNumber(s, 'net.core.somaxconn');
  if (dropped > 0) {
    out.push({
      id: 'syn-queue-drops',
      severity: 'critical',
      title: 'SYNs are being dropped: a SYN queue is full and cookies are not saving the connections',
      evidence: [
        `TcpExt.TCPReqQFullDrop +${formatCount(dropped)} in ${s.durationS} s; tcp_syncookies = ${syncookies ?? '?'}`,
      ],
      mechanism:
        'With tcp_syncookies=0 a full SYN queue drops new SYNs, and the client retries after 1 s, 3 s, 7 s. Cookies (1, the default) answer from a full queue without keeping state.',
      fix: [
        'sysctl -w net.ipv4.tcp_syncookies=1',
        "raise the listener's backlog (and somaxconn): the SYN queue is capped by min(backlog, somaxconn) on current kernels",
      ],
    });
  } else if (cookies > 0) {
    out.push({
      id: 'syn-queue-cookies',
      severity: 'warning',
      title: 'A SYN queue filled: connections were kept with SYN cookies',
      evidence: [
        `TcpExt.SyncookiesSent + TCPReqQFullDoCookies +${formatCount(cookies)} in ${s.durationS} s (/proc/net/netstat)`,
      ],
      mechanism:
        "When a listener's SYN queue is full the kernel answers with a cookie instead of dropping the SYN, so the connection still succeeds. It is a sign of a burst or a flood at the listener; without TCP timestamps, cookie connections lose window scaling.",
      fix: [
        "raise the listener's backlog and net.core.somaxconn if this is legitimate load",
        'check for a SYN flood: tcplens sockets --state syn-recv --by peer',
      ],
    });
  }
  if (syncookies === 0) {
    const small = synBacklog !== undefined && somaxconn !== undefined && synBacklog < somaxconn;
    out.push({
      id: 'syncookies-disabled',
      severity: 'warning',
      title: 'SYN cookies are off: a full SYN queue drops connections',
      evidence: [
        `net.ipv4.tcp_syncookies = 0; tcp_max_syn_backlog = ${synBacklog ?? '?'}; somaxconn = ${somaxconn ?? '?'}`,
      ],
      mechanism:
        'Only with cookies off does tcp_max_syn_backlog limit half-open connections, and SYNs beyond it are dropped. A burst of clients then waits out SYN retransmits of 1 s and more.',
      fix: [
        'sysctl -w net.ipv4.tcp_syncookies=1',
        ...(small ? [`or at least sysctl -w net.ipv4.tcp_max_syn_backlog=${somaxconn}`] : []),
      ],
    });
  }
  return out;
}
