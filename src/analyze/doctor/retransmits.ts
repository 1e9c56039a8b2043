// Retransmissions: segment loss on the paths this host talks over, and SYNs sent again.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

export const RETRANS_WARNING = 0.01;
export const RETRANS_CRITICAL = 0.05;
/** Below this many segments sent in the window, a ratio says nothing. */
export const RETRANS_MIN_SEGMENTS = 1000;

export function retransmits(s: DoctorSnapshot): Finding[] {
  const outSegs = s.deltas['Tcp.OutSegs'] ?? 0;
  const retrans = s.deltas['Tcp.RetransSegs'] ?? 0;
  const syn = s.deltas['TcpExt.TCPSynRetrans'] ?? 0;
  const ratio = outSegs > 0 ? retrans / outSegs : 0;
  const out: Finding[] = [];
  if (outSegs >= RETRANS_MIN_SEGMENTS && ratio >= RETRANS_WARNING) {
    out.push({
      id: 'retransmission-ratio',
      severity: ratio >= RETRANS_CRITICAL ? 'critical' : 'warning',
      title: `${(ratio * 100).toFixed(1)}% of segments were retransmitted`,
      evidence: [
        `Tcp.RetransSegs +${formatCount(retrans)} of OutSegs +${formatCount(outSegs)} in ${s.durationS} s (/proc/net/snmp)`,
      ],
      mechanism:
        'TCP resends a segment when it is not acknowledged in time; every resend costs at least a round trip and shrinks the congestion window. Above about 1% the path drops packets (a congested link, a NIC ring overflow, a middlebox) or the peer is overloaded.',
      fix: [
        'find the peers: tcplens trace --events retrans',
        'check drops on this host: ip -s link, /proc/net/softnet_stat (netdev_max_backlog)',
      ],
    });
  }
  if (syn > 0) {
    out.push({
      id: 'syn-retransmits',
      severity: 'info',
      title: `${formatCount(syn)} SYNs or SYN-ACKs were sent again`,
      evidence: [`TcpExt.TCPSynRetrans +${formatCount(syn)} in ${s.durationS} s`],
      mechanism:
        'A connection attempt that is not answered is retried after 1 s, then 3 s, 7 s: each retry is a latency cliff for the client. Full accept or SYN queues at a server, and lossy paths, cause them.',
      fix: [
        'on the server side see accept-queue findings; on the client side see which destination: tcplens trace --events synack,retrans',
      ],
    });
  }
  return out;
}
