// TIME_WAIT pile-up: how many, against tcp_max_tw_buckets, and which side closes first.

import type { Finding } from '../../model/finding.ts';
import { type DoctorSnapshot, sysctlNumber } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

/** Below this, TIME_WAIT is the normal residue of a quiet host. */
export const TIME_WAIT_NOTABLE = 1000;

export function timeWait(s: DoctorSnapshot): Finding[] {
  const tw = s.sockets.byState.TIME_WAIT ?? 0;
  const buckets = sysctlNumber(s, 'net.ipv4.tcp_max_tw_buckets');
  const overflow = s.deltas['TcpExt.TCPTimeWaitOverflow'] ?? 0;
  const share = buckets ? tw / buckets : 0;
  if (tw < TIME_WAIT_NOTABLE && overflow === 0 && share < 0.5) return [];
  const server = s.sockets.timeWaitServerTotal;
  const client = s.sockets.timeWaitClientTotal;
  const serverFirst = server >= client;
  const top = (serverFirst ? s.sockets.timeWaitServerSide : s.sockets.timeWaitClientSide).slice(0, 3);
  // On a listening port TIME_WAIT costs memory only; on the connecting side it holds ports.
  const severity = overflow > 0 || share >= 0.8 ? 'critical' : share >= 0.5 || !serverFirst ? 'warning' : 'info';
  return [
    {
      id: 'time-wait-pile-up',
      severity,
      title: `${formatCount(tw)} sockets in TIME_WAIT: ${serverFirst ? 'the server side closes first' : 'this host closes its outgoing connections first'}`,
      evidence: [
        `TIME_WAIT ${formatCount(tw)}${buckets ? ` of tcp_max_tw_buckets ${formatCount(buckets)} (${(share * 100).toFixed(0)}%)` : ''} (/proc/net/tcp{,6})`,
        `on listening ports (server closed first): ${formatCount(server)}; towards remote ports (this host closed first): ${formatCount(client)}`,
        ...top.map(
          (p) =>
            `${serverFirst ? 'local' : 'remote'} port ${p.port}${p.process ? ` (${p.process}/${p.pid})` : ''}: ${formatCount(p.count)}`,
        ),
        ...(overflow
          ? [`TcpExt.TCPTimeWaitOverflow +${formatCount(overflow)}: connections closed without TIME_WAIT`]
          : []),
      ],
      mechanism:
        "The side that closes a connection first holds it in TIME_WAIT for a fixed 60 s on Linux (tcp_fin_timeout does not change that). At N new connections a second, that is 60·N sockets: harmless on a server's listening port, but on the connecting side each one holds an ephemeral port towards its destination.",
      fix: serverFirst
        ? [
            'use keep-alive between clients and this server (HTTP/1.1 keeps connections open unless told Connection: close)',
            'let clients close first where the protocol allows: the TIME_WAIT then stays with them, spread over many hosts',
          ]
        : [
            'reuse connections: a keep-alive pool (undici, http.Agent({ keepAlive: true })) instead of a connection per request',
            'sysctl -w net.ipv4.tcp_tw_reuse=1 lets connect() reuse a TIME_WAIT port after 1 s (outgoing only; needs tcp_timestamps=1)',
          ],
    },
  ];
}

/** A hint for those who lowered tcp_fin_timeout to shorten TIME_WAIT: it does not. */
export function finTimeout(s: DoctorSnapshot): Finding[] {
  const fin = sysctlNumber(s, 'net.ipv4.tcp_fin_timeout');
  const fw2 = s.sockets.finWait2;
  const out: Finding[] = [];
  if (fin !== undefined && fin < 60 && (s.sockets.byState.TIME_WAIT ?? 0) >= TIME_WAIT_NOTABLE) {
    out.push({
      id: 'fin-timeout-misread',
      severity: 'info',
      title: `tcp_fin_timeout is ${fin} s, but TIME_WAIT still lasts 60 s`,
      evidence: [
        `net.ipv4.tcp_fin_timeout = ${fin}; TIME_WAIT sockets now: ${formatCount(s.sockets.byState.TIME_WAIT ?? 0)}`,
      ],
      mechanism:
        "tcp_fin_timeout is how long an orphaned socket may wait in FIN_WAIT2 for the peer's FIN. TIME_WAIT is fixed at 60 s (TCP_TIMEWAIT_LEN) and no sysctl shortens it.",
      fix: [
        'to cut TIME_WAIT, reuse connections (keep-alive) or let the other side close first; tcp_tw_reuse=1 helps only outgoing connections',
      ],
    });
  }
  if (fw2 >= 1000) {
    out.push({
      id: 'fin-wait2-accumulation',
      severity: 'warning',
      title: `${formatCount(fw2)} sockets in FIN_WAIT2: peers that never finish closing`,
      evidence: [`FIN_WAIT2 ${formatCount(fw2)} (/proc/net/tcp{,6}); tcp_fin_timeout ${fin ?? '?'} s`],
      mechanism:
        'After this host closed, the peer acknowledged but never sent its own FIN: the application on the other side keeps the connection half-open. Orphaned sockets give up after tcp_fin_timeout; sockets this host still holds open wait for ever.',
      fix: [
        'find the peers: tcplens sockets --state fin-wait-2 --by peer',
        'sysctl -w net.ipv4.tcp_fin_timeout=30 to free orphaned ones sooner',
      ],
    });
  }
  return out;
}
