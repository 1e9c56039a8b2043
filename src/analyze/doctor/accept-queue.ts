// Accept-queue overflow and the backlog settings behind it, as this kernel applies them.

import type { Finding } from '../../model/finding.ts';
import { type DoctorSnapshot, sysctlNumber } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

/** A listener this full is one burst away from dropping handshakes. */
export const QUEUE_FILL_WARNING = 0.8;

export function acceptQueue(s: DoctorSnapshot): Finding[] {
  const out: Finding[] = [];
  const overflows = s.deltas['TcpExt.ListenOverflows'] ?? 0;
  const drops = s.deltas['TcpExt.ListenDrops'] ?? 0;
  const full = s.sockets.listeners.filter((l) => l.fill !== null && l.fill >= QUEUE_FILL_WARNING);
  const where = (full.length ? full : s.sockets.listeners.filter((l) => l.queue > 0))
    .map(
      (l) =>
        `${l.local.address}:${l.local.port}${l.process ? ` (${l.process}/${l.pid})` : ''} queue ${formatCount(l.queue)}/${l.maxQueue ?? '?'}`,
    )
    .slice(0, 5);
  if (overflows > 0 || full.length > 0) {
    out.push({
      id: 'accept-queue-overflow',
      severity: overflows > 0 ? 'critical' : 'warning',
      title:
        overflows > 0 ? 'Accept queues overflowed: connections are being dropped' : 'An accept queue is nearly full',
      evidence: [
        `TcpExt.ListenOverflows +${formatCount(overflows)}, ListenDrops +${formatCount(drops)} in ${s.durationS} s (/proc/net/netstat)`,
        ...where.map((w) => `listener ${w}`),
      ],
      mechanism:
        "A completed handshake waits in the listener's accept queue until the application calls accept(); when the queue holds min(backlog, somaxconn) + 1 connections, the kernel drops the final ACK (or sends RST with tcp_abort_on_overflow=1). Clients then retransmit after 1 s, 3 s, 7 s…, which shows up as latency cliffs, not errors.",
      fix: [
        "accept faster: the event loop is blocked or the process is saturated (check tcplens serve's /debug/eventloop, or add workers: tcplens serve --workers N --reuse-port)",
        'raise the backlog: server.listen({ port, backlog: 4096 }) in Node (its default is 511)',
        'and the cap: sysctl -w net.core.somaxconn=4096 (the queue is min(backlog, somaxconn))',
      ],
    });
  }
  const somaxconn = sysctlNumber(s, 'net.core.somaxconn');
  if (somaxconn !== undefined && somaxconn < 4096) {
    out.push({
      id: 'backlog-settings',
      severity: overflows > 0 ? 'warning' : 'info',
      title: `net.core.somaxconn is ${somaxconn}: every listen backlog is capped there`,
      evidence: [
        `net.core.somaxconn = ${somaxconn} (/proc/sys/net/core/somaxconn); the default has been 4096 since Linux 5.4`,
      ],
      mechanism:
        "A listener's accept queue holds min(backlog passed to listen(), somaxconn); Node passes 511 unless told otherwise. With syncookies on (the default) the SYN queue is capped by the same number, so a small somaxconn shortens both.",
      fix: ['sysctl -w net.core.somaxconn=4096', 'echo "net.core.somaxconn = 4096" > /etc/sysctl.d/90-tcplens.conf'],
    });
  }
  return out;
}
