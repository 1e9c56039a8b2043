// Ephemeral-port exhaustion towards one destination, and the failed connects that announce it.

import type { Finding } from '../../model/finding.ts';
import { type DoctorSnapshot, sysctlNumber } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';
import { bracketHost } from '../../text/host-port.ts';

export const PORT_SHARE_WARNING = 0.5;
export const PORT_SHARE_CRITICAL = 0.8;

export function ephemeralPorts(s: DoctorSnapshot): Finding[] {
  const e = s.sockets.ephemeral;
  if (!e) return [];
  const worst = e.destinations.filter((d) => d.share >= PORT_SHARE_WARNING);
  if (worst.length === 0) return [];
  const reuse = sysctlNumber(s, 'net.ipv4.tcp_tw_reuse');
  const top = worst[0]!;
  const host = bracketHost(top.remote.address);
  return [
    {
      id: 'ephemeral-port-exhaustion',
      severity: top.share >= PORT_SHARE_CRITICAL ? 'critical' : 'warning',
      title: `${formatCount(top.ports)} of ${formatCount(e.usable)} ephemeral ports in use towards ${host}:${top.remote.port}`,
      evidence: [
        ...worst
          .slice(0, 5)
          .map(
            (d) =>
              `${d.remote.address}:${d.remote.port}: ${formatCount(d.ports)} ports (${(d.share * 100).toFixed(0)}%), ${formatCount(d.timeWait)} of them in TIME_WAIT`,
          ),
        `usable range ${e.range.low}-${e.range.high}${e.reservedInRange ? ` minus ${formatCount(e.reservedInRange)} reserved` : ''} = ${formatCount(e.usable)} per destination`,
        `Tcp.AttemptFails +${formatCount(s.deltas['Tcp.AttemptFails'] ?? 0)} in ${s.durationS} s; tcp_tw_reuse = ${reuse ?? '?'}`,
      ],
      mechanism:
        'Every connection to one remote ip:port needs its own local port, and a port stays taken for 60 s of TIME_WAIT after this host closes. When the range runs out connect() fails with EADDRNOTAVAIL.',
      fix: [
        'reuse connections to that destination (a keep-alive pool) instead of opening one per request',
        ...(reuse === 1
          ? []
          : ['sysctl -w net.ipv4.tcp_tw_reuse=1 (needs tcp_timestamps=1; 2, the default, reuses on loopback only)']),
        'sysctl -w net.ipv4.ip_local_port_range="10000 65535" widens the range (reserve your listening ports in ip_local_reserved_ports)',
      ],
    },
  ];
}
