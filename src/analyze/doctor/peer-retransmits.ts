// Retransmissions towards one peer far above the rest: a lossy path or an overloaded peer, told
// apart from the host-wide ratio by each connection's tcp_info over the window.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';
import { RETRANS_CRITICAL, RETRANS_MIN_SEGMENTS, RETRANS_WARNING } from './retransmits.ts';

/**
 * A peer counts as far above the rest at this many times their ratio: loss on the host itself (a
 * full NIC ring, a qdisc) hits every peer alike, so a peer this far apart has a path or an end of
 * its own in trouble.
 */
export const PEER_RETRANS_FACTOR = 5;

const pct = (r: number) => `${(r * 100).toFixed(r < 0.001 ? 3 : r < 0.01 ? 2 : 1)}%`;

export function peerRetransmits(s: DoctorSnapshot): Finding[] {
  const c = s.connections;
  if (!c) return [];
  const outliers = [];
  for (const p of c.peers) {
    if (p.segsOut < RETRANS_MIN_SEGMENTS) continue;
    const ratio = p.retransSegs / p.segsOut;
    const restSegs = c.segsOut - p.segsOut;
    const restRetrans = c.retransSegs - p.retransSegs;
    // Without enough traffic to other peers there is no rest to compare with: the host-wide rule speaks.
    if (restSegs < RETRANS_MIN_SEGMENTS) continue;
    const restRatio = restRetrans / restSegs;
    if (ratio >= RETRANS_WARNING && ratio >= PEER_RETRANS_FACTOR * restRatio)
      outliers.push({ p, ratio, restRatio, restSegs, restRetrans });
  }
  if (outliers.length === 0) return [];
  outliers.sort((a, b) => b.ratio - a.ratio);
  const worst = outliers[0]!;
  return [
    {
      id: 'peer-retransmits',
      severity: worst.ratio >= RETRANS_CRITICAL ? 'critical' : 'warning',
      title: `${outliers.length === 1 ? `connections to ${worst.p.peer} retransmit` : `connections to ${outliers.length} peers retransmit`} ${pct(worst.ratio)} of their segments, against ${pct(worst.restRatio)} for the other peers`,
      evidence: [
        ...outliers.slice(0, 5).flatMap(({ p, ratio }) => {
          const lines = [
            `${p.peer}: ${formatCount(p.retransSegs)} of ${formatCount(p.segsOut)} segments retransmitted (${pct(ratio)}) over ${p.connections} connection${p.connections === 1 ? '' : 's'} in ${c.windowS} s (tcp_info total_retrans, segs_out)`,
          ];
          if (p.worst)
            lines.push(
              `  worst: ${p.worst.connection}, ${formatCount(p.worst.retransSegs)} of ${formatCount(p.worst.segsOut)}`,
            );
          return lines;
        }),
        `every other peer: ${formatCount(worst.restRetrans)} of ${formatCount(worst.restSegs)} segments (${pct(worst.restRatio)})`,
      ],
      mechanism:
        'A segment is sent again when it is not acknowledged in time or is reported missing; each resend costs a round trip and shrinks the congestion window, so these connections run slower than the others. When one peer retransmits far more than the rest, the loss is on its path (a congested or faulty link, a middlebox) or at the peer (receive drops, an overloaded host), not on this host.',
      fix: [
        `look at the connections: tcplens sockets -i --peer ${worst.p.peer} --sort retrans`,
        `and the path: mtr -rwc 100 ${worst.p.peer}; on the peer, ip -s link and nstat -az TcpExtTCPRcvQDrop`,
      ],
    },
  ];
}
