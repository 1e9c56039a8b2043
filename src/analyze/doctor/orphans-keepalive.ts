// Orphaned sockets against their limit, and keepalive settings against the idle timeouts of middleboxes.

import type { Finding } from '../../model/finding.ts';
import { type DoctorSnapshot, sysctlNumber } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';

export function orphans(s: DoctorSnapshot): Finding[] {
  const orphan = s.counters['sockstat.TCP.orphan'];
  const max = sysctlNumber(s, 'net.ipv4.tcp_max_orphans');
  if (orphan === undefined || !max) return [];
  const share = orphan / max;
  if (share < 0.5) return [];
  return [
    {
      id: 'orphan-sockets',
      severity: share >= 0.8 ? 'critical' : 'warning',
      title: `${formatCount(orphan)} orphaned sockets, ${(share * 100).toFixed(0)}% of tcp_max_orphans`,
      evidence: [
        `sockstat TCP orphan ${formatCount(orphan)} (/proc/net/sockstat); net.ipv4.tcp_max_orphans = ${formatCount(max)}`,
      ],
      mechanism:
        'An orphan is a socket the application has closed that is still finishing its close in the kernel (FIN_WAIT1/2, LAST_ACK, CLOSING). Beyond tcp_max_orphans the kernel resets them at once and logs "too many orphaned sockets".',
      fix: [
        'find the peers that do not finish closing: tcplens sockets --state fin-wait-1,fin-wait-2,last-ack --by peer',
        'sysctl -w net.ipv4.tcp_fin_timeout=30 frees FIN_WAIT2 orphans sooner',
      ],
    },
  ];
}

/** Typical idle timeouts of NAT gateways, firewalls and load balancers, in seconds. */
export const MIDDLEBOX_IDLE_S = 350;

export function keepalive(s: DoctorSnapshot): Finding[] {
  const time = sysctlNumber(s, 'net.ipv4.tcp_keepalive_time');
  if (time === undefined || time <= MIDDLEBOX_IDLE_S) return [];
  const intvl = sysctlNumber(s, 'net.ipv4.tcp_keepalive_intvl');
  const probes = sysctlNumber(s, 'net.ipv4.tcp_keepalive_probes');
  return [
    {
      id: 'keepalive-vs-middleboxes',
      severity: 'info',
      title: `TCP keepalive starts after ${formatCount(time)} s of silence, longer than many NAT and load-balancer idle timeouts`,
      evidence: [
        `tcp_keepalive_time ${time} s, intvl ${intvl ?? '?'} s, probes ${probes ?? '?'}; idle timeouts of middleboxes are often ${MIDDLEBOX_IDLE_S} s (AWS NAT) to 3600 s`,
      ],
      mechanism:
        "A middlebox that drops an idle connection's state tells neither end; the next packet gets a reset or vanishes. Keepalive probes, only on sockets with SO_KEEPALIVE, keep the state alive and find dead peers, but only if they start before the middlebox forgets.",
      fix: [
        'per socket in Node: socket.setKeepAlive(true, 60_000) on long-lived connections',
        'host-wide: sysctl -w net.ipv4.tcp_keepalive_time=300 (affects only sockets with SO_KEEPALIVE)',
      ],
    },
  ];
}
