// CLOSE_WAIT accumulation: the peer closed, the application never did — a descriptor leak.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

/** A few CLOSE_WAIT sockets come and go; this many on one port is a leak. */
export const CLOSE_WAIT_WARNING = 50;

export function closeWait(s: DoctorSnapshot): Finding[] {
  const leaks = s.sockets.closeWait.filter((p) => p.count >= CLOSE_WAIT_WARNING);
  if (leaks.length === 0) return [];
  const total = s.sockets.byState.CLOSE_WAIT ?? 0;
  return [
    {
      id: 'close-wait-accumulation',
      severity: 'warning',
      title: `${formatCount(total)} sockets in CLOSE_WAIT: an application is not closing connections`,
      evidence: leaks
        .slice(0, 5)
        .map(
          (p) =>
            `local port ${p.port}${p.process ? ` (${p.process}/${p.pid})` : ''}: ${formatCount(p.count)} in CLOSE_WAIT`,
        ),
      mechanism:
        'CLOSE_WAIT means the peer has closed and the kernel is waiting for this application to close its side; the kernel never times it out. Each one holds a file descriptor and memory until the process calls close() or exits.',
      fix: [
        'find the code path that drops a socket without ending it: in Node, destroy() or end() sockets on "end"/"error", set allowHalfOpen: false, release pooled connections on errors',
        'see which process holds them: tcplens sockets --state close-wait -p',
      ],
    },
  ];
}
