// Send queues that do not drain: data waiting for a peer that acknowledged nothing over the whole window.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

/** Over a shorter window, a queue that did not move may only be between two acknowledgements. */
export const STUCK_QUEUE_MIN_WINDOW_S = 1;

export function sendQueues(s: DoctorSnapshot): Finding[] {
  const c = s.connections;
  if (!c || c.windowS < STUCK_QUEUE_MIN_WINDOW_S || c.stuckSendQueues.length === 0) return [];
  const byPeer = new Map<string, { connections: number; bytes: number; timers: Set<string> }>();
  for (const q of c.stuckSendQueues) {
    let p = byPeer.get(q.peer);
    if (!p) byPeer.set(q.peer, (p = { connections: 0, bytes: 0, timers: new Set() }));
    p.connections++;
    p.bytes += q.sendQueueEndBytes;
    p.timers.add(q.timer);
  }
  const peers = [...byPeer].sort((a, b) => b[1].bytes - a[1].bytes);
  const why = (timers: Set<string>) =>
    timers.has('zero-window-probe')
      ? ', zero-window probes: its window is closed'
      : timers.has('retransmit')
        ? ', retransmitting: no answer at all'
        : '';
  return [
    {
      id: 'send-queue-stuck',
      severity: 'warning',
      title: `${c.stuckSendQueues.length} send queue${c.stuckSendQueues.length === 1 ? '' : 's'} did not drain in ${c.windowS} s: nothing acknowledged by ${peers.length === 1 ? peers[0]![0] : `${peers.length} peers`}`,
      evidence: [
        ...peers
          .slice(0, 5)
          .map(
            ([peer, p]) =>
              `towards ${peer}: ${p.connections} connection${p.connections === 1 ? '' : 's'} holding ${formatCount(p.bytes)} bytes, none acknowledged in ${c.windowS} s${why(p.timers)}`,
          ),
        ...c.stuckSendQueues
          .slice(0, 5)
          .map(
            (q) =>
              `${q.connection}: Send-Q ${formatCount(q.sendQueueStartBytes)} -> ${formatCount(q.sendQueueEndBytes)} bytes, timer ${q.timer} (tcp_info bytes_acked unchanged)`,
          ),
      ],
      mechanism:
        "Send-Q is data written by the application that the peer has not acknowledged. When none of it is acknowledged for seconds, the peer has stopped reading (its receive window is zero and the kernel only probes it) or no longer answers; the application's writes block or pile up in memory until a timeout it may not have.",
      fix: [
        'find the peer process that stopped reading (its Recv-Q is full: ss -tn on the peer), or the path that drops everything',
        'bound the wait in the application: a write timeout, TCP_USER_TIMEOUT (socket.setTimeout in Node only covers idleness)',
      ],
    },
  ];
}
