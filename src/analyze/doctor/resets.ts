// Resets and aborts: connections that ended with RST rather than a close, and why.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

/** Established connections reset per second before it is worth a look. */
export const ESTAB_RESETS_PER_S = 10;

const ABORTS: [string, string][] = [
  ['TcpExt.TCPAbortOnData', 'data arrived after the application closed'],
  ['TcpExt.TCPAbortOnClose', 'closed with unread data'],
  ['TcpExt.TCPAbortOnMemory', 'the kernel ran out of TCP memory'],
  ['TcpExt.TCPAbortOnTimeout', 'retransmits or keepalive probes went unanswered'],
  ['TcpExt.TCPAbortOnLinger', "an orphan's FIN_WAIT2 lingered too long"],
];

export function resets(s: DoctorSnapshot): Finding[] {
  const d = (k: string) => s.deltas[k] ?? 0;
  const estab = d('Tcp.EstabResets');
  const out = d('Tcp.OutRsts');
  const memory = d('TcpExt.TCPAbortOnMemory');
  const perS = s.durationS > 0 ? estab / s.durationS : 0;
  if (perS < ESTAB_RESETS_PER_S && memory === 0) return [];
  const aborts = ABORTS.filter(([k]) => d(k) > 0).map(([k, why]) => `${k} +${formatCount(d(k))}: ${why}`);
  return [
    {
      id: 'connection-resets',
      severity: memory > 0 ? 'critical' : 'warning',
      title: `${formatCount(Math.round(perS))} established connections reset per second`,
      evidence: [
        `Tcp.EstabResets +${formatCount(estab)}, Tcp.OutRsts +${formatCount(out)} in ${s.durationS} s (/proc/net/snmp)`,
        ...aborts,
      ],
      mechanism:
        'A reset ends a connection at once, and the other side sees ECONNRESET on its next read or write. The usual causes are a peer that aborts (a crash, SO_LINGER 0, closing with unread data), an idle connection closed by one side while the other reuses it, or a full accept queue with tcp_abort_on_overflow=1.',
      fix: [
        'see who resets: tcplens trace --events reset (or tcpdump "tcp[tcpflags] & tcp-rst != 0")',
        "keep client idle timeouts below the server's keep-alive timeout (the idle-close race)",
        ...(memory > 0 ? ['raise net.ipv4.tcp_mem, or find what holds so much socket memory'] : []),
      ],
    },
  ];
}
