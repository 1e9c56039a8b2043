// File-descriptor limits of the processes that hold many sockets: every connection is a descriptor.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

export const NOFILE_WARNING = 0.8;
export const NOFILE_CRITICAL = 0.95;

export function nofile(s: DoctorSnapshot): Finding[] {
  const near = s.processes
    .filter((p) => p.softLimit !== undefined && p.softLimit > 0 && p.fds / p.softLimit >= NOFILE_WARNING)
    .sort((a, b) => b.fds / b.softLimit! - a.fds / a.softLimit!);
  if (near.length === 0) return [];
  const worst = near[0]!;
  const share = worst.fds / worst.softLimit!;
  return [
    {
      id: 'nofile-limit',
      severity: share >= NOFILE_CRITICAL ? 'critical' : 'warning',
      title: `${worst.command}/${worst.pid} uses ${formatCount(worst.fds)} of its ${formatCount(worst.softLimit!)} file descriptors`,
      evidence: near
        .slice(0, 5)
        .map(
          (p) =>
            `${p.command}/${p.pid}: ${formatCount(p.fds)} open (${formatCount(p.sockets)} sockets) of soft limit ${formatCount(p.softLimit!)} (/proc/${p.pid}/limits)`,
        ),
      mechanism:
        'Every accepted or opened connection takes a file descriptor; at the soft RLIMIT_NOFILE, accept() and connect() fail with EMFILE. A server that stops accepting leaves connections in its accept queue until it overflows.',
      fix: [
        'raise the limit where the service starts: LimitNOFILE=1048576 in its systemd unit, or ulimit -n before exec',
        'or find a descriptor leak: tcplens sockets -p --by process',
      ],
    },
  ];
}
