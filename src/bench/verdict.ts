// Sentences computed from a run's numbers: what the load did to the kernel and what follows from it.

import type { BenchResult, Verdict } from '../model/bench-result.ts';
import { formatCount } from '../render/table.ts';

/** TIME_WAIT lasts a fixed 60 s on Linux (TCP_TIMEWAIT_LEN); tcp_fin_timeout does not change it. */
export const TIME_WAIT_SECONDS = 60;

type VerdictInput = Pick<
  BenchResult,
  'mode' | 'connections' | 'durationS' | 'errors' | 'kernel' | 'requests' | 'connectionsOpened' | 'errorDetails'
>;

/**
 * New connections per second that take a port: in close mode every request's, with keep-alive the
 * reconnections beyond the first pool (the server closed them).
 */
export function portsPerSecond(r: Pick<BenchResult, 'mode' | 'connections' | 'connectionsOpened' | 'durationS'>): number {
  const churn = r.mode === 'close' ? r.connectionsOpened : Math.max(0, r.connectionsOpened - r.connections);
  return r.durationS > 0 ? churn / r.durationS : 0;
}

export function verdict(r: VerdictInput): Verdict[] {
  const out: Verdict[] = [];
  const k = r.kernel;
  const rate = portsPerSecond(r);
  const noPort = r.errors.EADDRNOTAVAIL ?? 0;

  if (r.requests.total > 0 && r.requests.failed === r.requests.total) {
    const top = [...r.errorDetails].sort((a, b) => b.count - a.count)[0];
    if (top) out.push({ severity: 'critical', text: `every request failed: ${top.code} (${top.first}) — ${top.meaning}` });
  }

  if (noPort > 0) {
    out.push({
      severity: 'critical',
      text: `${formatCount(noPort)} connect() calls failed with EADDRNOTAVAIL: no local port was free towards the target` +
        (k ? ` (${formatCount(k.ephemeralPortsPeak)} held at the peak, ${formatCount(k.ephemeralPortsUsable)} usable)` : '') +
        '. Use keep-alive; failing that, widen ip_local_port_range or set tcp_tw_reuse=1 on this client.',
    });
  }

  if (k && rate > 0) {
    const needed = Math.round(rate * TIME_WAIT_SECONDS);
    const usable = k.ephemeralPortsUsable;
    const side =
      k.timeWaitPeakClientSide >= k.timeWaitPeakServerSide
        ? 'this client holds the TIME_WAIT (it closed first)'
        : 'the server holds the TIME_WAIT (it closed first), so this client\'s ports are freed at once';
    if (r.mode === 'close' || rate >= 1) {
      const fits = usable > 0 ? usable / TIME_WAIT_SECONDS : 0;
      const clientHolds = k.timeWaitPeakClientSide >= k.timeWaitPeakServerSide;
      const severity = clientHolds && needed > usable ? 'critical' : needed > usable * 0.5 && clientHolds ? 'warning' : 'info';
      out.push({
        severity,
        text:
          `at ${formatCount(Math.round(rate))} new connections/s, ${TIME_WAIT_SECONDS} s of TIME_WAIT needs ${formatCount(needed)} ports; ` +
          `the range has ${formatCount(usable)} per destination (enough for ${formatCount(Math.floor(fits))}/s); ${side}` +
          (clientHolds && needed > usable ? ': EADDRNOTAVAIL ahead — use keep-alive.' : '.'),
      });
    }
    out.push({
      severity: 'info',
      text: `TIME_WAIT peaked at ${formatCount(k.timeWaitPeak)} sockets with the target's port (client side ${formatCount(k.timeWaitPeakClientSide)}, server side ${formatCount(k.timeWaitPeakServerSide)}${k.targetIsLocal ? '' : ', server not on this host'}).`,
    });
  } else if (k && r.mode === 'keepalive') {
    out.push({
      severity: 'ok',
      text: `keep-alive: ${formatCount(r.requests.total)} requests over ${formatCount(r.connectionsOpened)} connections; TIME_WAIT peaked at ${formatCount(k.timeWaitPeak)}.`,
    });
  }

  if (k?.timeWaitAtStart) {
    out.push({
      severity: 'info',
      text: `${formatCount(k.timeWaitAtStart)} TIME_WAIT sockets with the target's port were there before this run began (an earlier run within 60 s): the TIME_WAIT peaks include them.`,
    });
  }

  if (k) {
    const c = k.counters;
    const overflows = c['TcpExt.ListenOverflows'] ?? 0;
    if (overflows > 0) {
      out.push({
        severity: 'warning',
        text: `ListenOverflows rose by ${formatCount(overflows)}: an accept queue on this host was full (the server accepts too slowly, or its backlog/somaxconn is too small); clients saw SYN retransmits of 1 s and more.`,
      });
    }
    const cookies = (c['TcpExt.SyncookiesSent'] ?? 0) + (c['TcpExt.TCPReqQFullDoCookies'] ?? 0);
    if (cookies > 0) {
      out.push({ severity: 'info', text: `SYN cookies were sent ${formatCount(cookies)} times: a SYN queue filled, and cookies kept the connections.` });
    }
    const resets = (c['Tcp.EstabResets'] ?? 0) + (c['Tcp.OutRsts'] ?? 0);
    if (resets > 0 && r.mode === 'keepalive') {
      out.push({ severity: 'info', text: `resets: ${formatCount(c['Tcp.OutRsts'] ?? 0)} RST sent, ${formatCount(c['Tcp.EstabResets'] ?? 0)} established connections reset (whole host).` });
    }
    const retrans = c['Tcp.RetransSegs'] ?? 0;
    if (retrans > 0) out.push({ severity: 'info', text: `${formatCount(retrans)} segments retransmitted on this host during the run (${formatCount(c['TcpExt.TCPSynRetrans'] ?? 0)} of them SYNs).` });
    if ((c['TcpExt.TCPTimeWaitOverflow'] ?? 0) > 0) {
      out.push({ severity: 'warning', text: `TCPTimeWaitOverflow rose by ${formatCount(c['TcpExt.TCPTimeWaitOverflow']!)}: tcp_max_tw_buckets was reached and connections closed without TIME_WAIT.` });
    }
  }
  return out;
}
