// Sentences computed from a run's numbers: what the load did to the kernel and what follows from it.

import { resetReasonMeaning } from '../analyze/reset-reasons.ts';
import type {
  BenchResult,
  KernelFootprint,
  TimeWaitReuse,
  TracedReset,
  TracedResets,
  Verdict,
} from '../model/bench-result.ts';
import { formatCount } from '../text/number.ts';

/** TIME_WAIT lasts a fixed 60 s on Linux (TCP_TIMEWAIT_LEN); tcp_fin_timeout does not change it. */
export const TIME_WAIT_SECONDS = 60;

export interface ReuseAnswer {
  /** undefined when the knobs were not read (a file from an older tcplens, or merged machines that differ). */
  applies: boolean | undefined;
  /** The setting in words, for a sentence: "tcp_tw_reuse=2 (loopback only)". */
  setting: string;
  /** What would make reuse apply to this target, when it does not. */
  fix?: string;
}

/**
 * Whether the kernel reuses TIME_WAIT ports for connections to this target. tcp_tw_reuse=2 means
 * loopback only: the kernel checks the addresses (127.0.0.0/8, ::1), so a target on one of this
 * host's other addresses does not count, though its packets go through lo. Pure.
 */
export function timeWaitReuse(s: TimeWaitReuse | undefined): ReuseAnswer {
  if (!s)
    return {
      applies: undefined,
      setting: 'tcp_tw_reuse',
      fix: 'set tcp_tw_reuse=1 on this client (it needs tcp_timestamps)',
    };
  const setting = `tcp_tw_reuse=${s.tcpTwReuse}${s.tcpTwReuse === 2 ? ' (loopback only)' : ''}`;
  if (s.tcpTimestamps === 0) {
    return {
      applies: false,
      setting: `${setting} with tcp_timestamps=0`,
      fix: `set tcp_timestamps=1${s.tcpTwReuse === 1 || (s.tcpTwReuse === 2 && s.targetIsLoopback) ? '' : ' and tcp_tw_reuse=1'} on this client (reuse needs timestamps)`,
    };
  }
  if (s.tcpTwReuse === 1 || (s.tcpTwReuse === 2 && s.targetIsLoopback)) return { applies: true, setting };
  if (s.tcpTwReuse === 2)
    return { applies: false, setting, fix: 'set tcp_tw_reuse=1 on this client (2 covers loopback targets only)' };
  return { applies: false, setting, fix: 'set tcp_tw_reuse=1 on this client (it needs tcp_timestamps)' };
}

type VerdictInput = Pick<
  BenchResult,
  | 'mode'
  | 'connections'
  | 'durationS'
  | 'errors'
  | 'kernel'
  | 'requests'
  | 'connectionsOpened'
  | 'connectionsFromWarmup'
  | 'errorDetails'
  | 'rate'
  | 'connectErrors'
> &
  Partial<Pick<BenchResult, 'statuses' | 'resetsTraced' | 'target'>>;

/**
 * New connections per second that take a port: in close mode every request's, with keep-alive the
 * reconnections beyond the first pool (the server closed them). A pool opened during warm-up is
 * not in connectionsOpened: every measured connection then replaced one.
 */
export function portsPerSecond(
  r: Pick<BenchResult, 'mode' | 'connections' | 'connectionsOpened' | 'connectionsFromWarmup' | 'durationS'>,
): number {
  const firstPool = Math.max(0, r.connections - (r.connectionsFromWarmup ?? 0));
  const churn = r.mode === 'close' ? r.connectionsOpened : Math.max(0, r.connectionsOpened - firstPool);
  return r.durationS > 0 ? churn / r.durationS : 0;
}

/** "1 connection", "2,000 connections". */
export function countOf(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** Below this share of the asked rate (-R), a run says it missed it. */
export const RATE_MISSED_BELOW = 0.9;
/** Shares of failed requests that make a warning and a critical verdict. */
export const FAILED_WARNING = 0.01;
export const FAILED_CRITICAL = 0.1;

/** A share as a percentage that never rounds a part up to all ("99.7%", not "100%") nor down to none. */
function percent(x: number): string {
  const p = x * 100;
  if (p === 0 || p === 100 || (p >= 10 && p < 99.5)) return `${Math.round(p)}%`;
  return `${p.toFixed(1)}%`;
}

/** Where this run's TIME_WAIT went: decided from this run's own counts (peaks minus what was there at start). */
export interface TimeWaitSide {
  side: 'client' | 'server' | 'both' | 'unknown';
  /** This run's TIME_WAIT on each side (the server side is 0 when the server is elsewhere). */
  client: number;
  server: number;
  /** The share of new connections that leave this client a TIME_WAIT (0 to 1). */
  clientShare: number;
  /** For a sentence. */
  text: string;
}

/**
 * This client is said to hold the TIME_WAIT from this share of it (or, server elsewhere, of the
 * connections made) up; below SERVER_CLEAR the server is, and its ports are freed at once; between
 * the two both sides hold it: even a fifth of a close-mode rate can run a port range out.
 */
const CLIENT_CLEAR = 0.8;
const REMOTE_CLIENT_CLEAR = 0.6;
const SERVER_CLEAR = 0.05;

/**
 * Who closed first, from this run's numbers. With the server on this host both ends are seen: the
 * shares decide. With the server elsewhere only this client's end is: each connection it closed first
 * leaves it one TIME_WAIT for 60 s, so its count against the connections made in that time decides.
 */
export function timeWaitSide(r: Pick<BenchResult, 'kernel' | 'connectionsOpened' | 'durationS'>): TimeWaitSide {
  const k = r.kernel!;
  const client =
    k.timeWaitAddedClientSide ?? Math.max(0, k.timeWaitPeakClientSide - (k.timeWaitAtStartClientSide ?? 0));
  const server =
    k.timeWaitAddedServerSide ?? Math.max(0, k.timeWaitPeakServerSide - (k.timeWaitAtStartServerSide ?? 0));
  if (k.targetIsLocal) {
    const total = client + server;
    if (total === 0)
      return { side: 'unknown', client, server, clientShare: 0, text: 'neither side holds TIME_WAIT from this run' };
    const share = client / total;
    if (share >= CLIENT_CLEAR)
      return {
        side: 'client',
        client,
        server,
        clientShare: share,
        text: 'this client holds the TIME_WAIT (it closed first)',
      };
    if (share <= SERVER_CLEAR) {
      return {
        side: 'server',
        client,
        server,
        clientShare: share,
        text: `the server holds the TIME_WAIT (it closed first: server ${formatCount(server)}, client ${formatCount(client)}), so this client's ports are freed at once`,
      };
    }
    return {
      side: 'both',
      client,
      server,
      clientShare: share,
      text: `both sides hold TIME_WAIT (client ${formatCount(client)}, server ${formatCount(server)})`,
    };
  }
  // Connections made within one TIME_WAIT length: what a client that closes first would hold at the end.
  const expected =
    r.durationS > TIME_WAIT_SECONDS ? (r.connectionsOpened * TIME_WAIT_SECONDS) / r.durationS : r.connectionsOpened;
  if (expected <= 0) return { side: 'unknown', client, server, clientShare: 0, text: 'no connection was opened' };
  const share = Math.min(1, client / expected);
  const of = `${formatCount(client)} TIME_WAIT for ${countOf(Math.round(expected), 'connection')}`;
  if (share >= REMOTE_CLIENT_CLEAR)
    return {
      side: 'client',
      client,
      server,
      clientShare: share,
      text: `this client holds the TIME_WAIT (it closed first: ${of})`,
    };
  if (share <= SERVER_CLEAR) {
    return {
      side: 'server',
      client,
      server,
      clientShare: share,
      text: `the server closed first (this client holds ${of}), so this client's ports are freed at once`,
    };
  }
  return {
    side: 'both',
    client,
    server,
    clientShare: share,
    text: `this client holds TIME_WAIT for some of its connections (${of}): both sides close first`,
  };
}

export function verdict(r: VerdictInput): Verdict[] {
  const out: Verdict[] = [];
  const k = r.kernel;
  const rate = portsPerSecond(r);
  const noPort = r.errors.EADDRNOTAVAIL ?? 0;
  const reuse = timeWaitReuse(k?.timeWaitReuse);
  const top = [...r.errorDetails].sort((a, b) => b.count - a.count)[0];

  // Failed connects carry no request (the engine counts them apart), but a run of them is a failing run too.
  const connectErrors = r.connectErrors ?? 0;
  const attempts = r.requests.total + connectErrors;
  const failures = r.requests.failed + connectErrors;
  // Failed connects are measured against the connections wanted, failed requests against requests:
  // with keep-alive one connection carries thousands of requests.
  const connectionsWanted = r.connectionsOpened + (r.connectionsFromWarmup ?? 0) + connectErrors;
  const requestShare = r.requests.total > 0 ? r.requests.failed / r.requests.total : 0;
  const connectShare = connectionsWanted > 0 ? connectErrors / connectionsWanted : 0;
  const share = Math.max(requestShare, connectShare);
  if (top && attempts > 0 && r.requests.failed === r.requests.total) {
    out.push({
      severity: 'critical',
      text:
        r.requests.total === 0
          ? `no connection could be opened: ${countOf(connectErrors, 'attempt')} failed with ${top.code} (${top.first}) — ${top.meaning}`
          : connectErrors > 0
            ? `every request failed, and ${countOf(connectErrors, 'connection attempt')}: ${top.code} (${top.first}) — ${top.meaning}`
            : `every request failed: ${top.code} (${top.first}) — ${top.meaning}`,
    });
  } else if (attempts > 0 && share >= FAILED_WARNING) {
    const what = [
      ...(r.requests.failed ? [`${formatCount(r.requests.failed)} of ${formatCount(r.requests.total)} requests`] : []),
      ...(connectErrors
        ? [`${formatCount(connectErrors)} of ${countOf(connectionsWanted, 'connection attempt')}`]
        : []),
    ].join(' and ');
    out.push({
      severity: share >= FAILED_CRITICAL ? 'critical' : 'warning',
      text:
        `${what} failed (${percent(share)})` +
        // EADDRNOTAVAIL has a verdict line of its own below.
        (top
          ? `, ${top.count === failures ? 'all' : formatCount(top.count)} with ${top.code}${top.code === 'EADDRNOTAVAIL' ? '' : ` — ${top.meaning}`}`
          : '') +
        (share >= FAILED_CRITICAL ? ': the figures above describe a failing run' : '') +
        '.',
    });
  }

  // Error statuses are responses (exit 0), but a run of nothing else measured an error page.
  const answered = r.requests.total - r.requests.failed;
  if (answered > 0 && r.requests.ok === 0) {
    const codes = Object.entries(r.statuses ?? {})
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);
    const one = codes.length === 1 ? codes[0]![0] : undefined;
    out.push({
      severity: 'warning',
      text: one
        ? `every response was ${one}${one === '404' ? ': check the URL' : Number(one) >= 500 ? ': the server is failing' : ': check the URL, method, headers and body'}; the figures above measure an error response.`
        : `no response was a success (${codes.map(([c, n]) => `${c}: ${formatCount(n)}`).join(', ')}): the figures above measure error responses.`,
    });
  }

  if (r.rate && r.durationS > 0) {
    // Requests that ended (answered or failed) per second: what the schedule really sent.
    const achieved = r.requests.total / r.durationS;
    if (achieved < r.rate * RATE_MISSED_BELOW) {
      out.push({
        severity: 'warning',
        text:
          `asked for ${formatCount(r.rate)} requests/s, reached ${formatCount(Math.round(achieved))}/s (${percent(achieved / r.rate)}): ` +
          "the schedule fell behind, so latency (from each request's scheduled time) includes the wait. " +
          'If this client is the limit, raise -c (one request at a time per connection) or -w; otherwise the server is saturated.',
      });
    }
  }

  if (noPort > 0) {
    out.push({
      severity: 'critical',
      text:
        `${formatCount(noPort)} connect() calls failed with EADDRNOTAVAIL: no local port was free towards the target` +
        (k
          ? ` (${formatCount(k.ephemeralPortsPeak)} held at the peak, ${formatCount(k.ephemeralPortsUsable)} usable)`
          : '') +
        (r.mode === 'keepalive'
          ? `. This run already uses keep-alive, so its connections themselves need more ports than the range has: open fewer (-c below ${formatCount(k ? k.ephemeralPortsUsable : 0)}), or widen ip_local_port_range.`
          : reuse.applies
            ? `. Use keep-alive; failing that, widen ip_local_port_range: ${reuse.setting} already reuses TIME_WAIT ports towards this target.`
            : `. Use keep-alive; failing that, widen ip_local_port_range or ${reuse.fix}.`),
    });
  }

  if (k && rate > 0) {
    const needed = Math.round(rate * TIME_WAIT_SECONDS);
    const usable = k.ephemeralPortsUsable;
    const who = timeWaitSide(r);
    const clientHolds = who.side === 'client' || who.side === 'both';
    const side = who.text;
    // Ports this client keeps in TIME_WAIT: every new connection's when it closes first, a share when both do.
    const clientNeeded =
      who.side === 'client' ? needed : who.side === 'both' ? Math.round(needed * who.clientShare) : 0;
    if (r.mode === 'close' || rate >= 1) {
      const head = `at ${formatCount(Math.round(rate))} new connections/s, ${TIME_WAIT_SECONDS} s of TIME_WAIT needs ${formatCount(needed)} ports`;
      if (clientHolds && reuse.applies && k.timeWaitReuse) {
        // connect() takes over a TIME_WAIT port once it is delayMs old: the range turns over every delayMs, not every 60 s.
        const delayS = k.timeWaitReuse.delayMs / 1000;
        const fits = delayS > 0 ? usable / delayS : Infinity;
        const clientRate = (clientNeeded / Math.max(1, needed)) * rate;
        const severity = clientRate > fits ? 'critical' : clientRate > fits * 0.5 ? 'warning' : 'info';
        out.push({
          severity,
          text:
            head +
            `, but ${reuse.setting} lets connect() take over a TIME_WAIT port towards this target once it is ${formatSeconds(delayS)} old` +
            `${k.timeWaitReuse.targetIsLoopback ? '' : ' (if the server uses TCP timestamps too)'}, ` +
            `so the range's ${formatCount(usable)} ports per destination last to about ${formatCount(Math.floor(fits))}/s; ${side}` +
            (severity === 'critical'
              ? ': EADDRNOTAVAIL ahead even with reuse — use keep-alive or widen ip_local_port_range.'
              : '.'),
        });
      } else {
        const fits = usable > 0 ? usable / TIME_WAIT_SECONDS : 0;
        const severity =
          clientHolds && clientNeeded > usable
            ? 'critical'
            : clientNeeded > usable * 0.5 && clientHolds
              ? 'warning'
              : 'info';
        out.push({
          severity,
          text:
            head +
            `; the range has ${formatCount(usable)} per destination (enough for ${formatCount(Math.floor(fits))}/s); ${side}` +
            (clientHolds && clientNeeded > usable
              ? `: EADDRNOTAVAIL ahead — ${r.mode === 'keepalive' ? 'fewer reconnections (the server closes keep-alive connections)' : 'use keep-alive'}, or ${reuse.fix}.`
              : '.'),
        });
      }
    }
    out.push({
      severity: 'info',
      text: `this run added up to ${formatCount(who.client + who.server)} TIME_WAIT sockets with the target's port (client side ${formatCount(who.client)}, server side ${formatCount(who.server)}${k.targetIsLocal ? '' : ', server not on this host'}).`,
    });
  } else if (k && r.mode === 'keepalive') {
    const failing = attempts > 0 && failures / attempts >= FAILED_WARNING;
    out.push({
      severity: failing ? 'info' : 'ok',
      text: `keep-alive: ${countOf(r.requests.total, 'request')} over ${countOf(r.connectionsOpened + (r.connectionsFromWarmup ?? 0), 'connection')}${r.connectionsFromWarmup ? ` (${formatCount(r.connectionsFromWarmup)} open from warm-up)` : ''}; this run added ${formatCount(timeWaitAddedOf(k))} TIME_WAIT.`,
    });
  }

  if (k?.timeWaitAtStart) {
    out.push({
      severity: 'info',
      text:
        k.timeWaitAtStart === 1
          ? "1 TIME_WAIT socket with the target's port was there before this run began (an earlier connection within 60 s): the peaks include it, this run's own counts do not."
          : `${formatCount(k.timeWaitAtStart)} TIME_WAIT sockets with the target's port were there before this run began (an earlier run within 60 s): the peaks include them, this run's own counts do not.`,
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
      out.push({
        severity: 'info',
        text: `SYN cookies were sent ${formatCount(cookies)} times: a SYN queue filled, and cookies kept the connections.`,
      });
    }
    const resets = (c['Tcp.EstabResets'] ?? 0) + (c['Tcp.OutRsts'] ?? 0);
    if (r.resetsTraced) out.push(...tracedResets(r.resetsTraced, r.target, k.targetIsLocal));
    else if (resets > 0 && (r.mode === 'keepalive' || (r.errors.ECONNRESET ?? 0) > 0))
      out.push({ severity: 'info', text: resetCounters(r, k) });
    const retrans = c['Tcp.RetransSegs'] ?? 0;
    if (retrans > 0)
      out.push({
        severity: 'info',
        text: `${formatCount(retrans)} segments retransmitted on this host during the run (${formatCount(c['TcpExt.TCPSynRetrans'] ?? 0)} of them SYNs).`,
      });
    if ((c['TcpExt.TCPTimeWaitOverflow'] ?? 0) > 0) {
      out.push({
        severity: 'warning',
        text: `TCPTimeWaitOverflow rose by ${formatCount(c['TcpExt.TCPTimeWaitOverflow']!)}: tcp_max_tw_buckets was reached and connections closed without TIME_WAIT.`,
      });
    }
  } else if (r.resetsTraced) out.push(...tracedResets(r.resetsTraced, r.target, undefined));
  // A check mark next to a warning would contradict it.
  if (out.some((v) => v.severity === 'critical' || v.severity === 'warning')) {
    for (const v of out) if (v.severity === 'ok') v.severity = 'info';
  }
  return out;
}

function targetPort(target: string | undefined): string {
  if (!target) return 'PORT';
  try {
    const u = new URL(target);
    return u.port || (u.protocol === 'https:' ? '443' : '80');
  } catch {
    return 'PORT';
  }
}

/**
 * Whose resets, from the counters alone: OutRsts and EstabResets are the whole host's, so they
 * cannot tell this client's resets from the server's (or anyone's); the resets this client's requests
 * met (ECONNRESET) were sent to it. The rest takes a trace, which the sentence names.
 */
function resetCounters(r: VerdictInput, k: KernelFootprint): string {
  const sent = k.counters['Tcp.OutRsts'] ?? 0;
  const estab = k.counters['Tcp.EstabResets'] ?? 0;
  const met = r.errors.ECONNRESET ?? 0;
  const where = k.targetIsLocal
    ? 'by this client and the server alike, and by anything else on this host'
    : "by this client's sockets or anything else on this host (the server's resets are not sent from here)";
  const parts = [
    `resets: ${countOf(sent, 'RST')} sent ${where}, ${countOf(estab, 'established connection')} reset (counters of the whole host)`,
  ];
  if (met > 0)
    parts.push(
      `${countOf(met, 'request')} of this client met a reset (ECONNRESET): the server${k.targetIsLocal ? '' : ', or something on the way,'} sent those`,
    );
  else parts.push('none reached a request of this client');
  return `${parts.join('; ')}. Whose and why: sudo tcplens bench --trace …, or sudo tcplens trace --events reset --port ${targetPort(r.target)} during the run.`;
}

const SENDER = { client: "this client's sockets", server: 'the server' } as const;

/**
 * Bench checks that the target answers before the run with a connection it aborts (SO_LINGER 0, so
 * that the check leaves no TIME_WAIT): one reset from this client in ESTABLISHED, traced like any other.
 */
function withoutOwnCheck(sent: TracedReset[]): { sent: TracedReset[]; check: boolean } {
  const i = sent.findIndex(
    (x) => x.sender === 'client' && x.state === 'ESTABLISHED' && (x.reason === 'TCP_STATE' || x.reason === 'unknown'),
  );
  if (i < 0) return { sent, check: false };
  const rest = sent.map((x) => ({ ...x }));
  rest[i]!.count--;
  return { sent: rest.filter((x) => x.count > 0), check: true };
}

/** Whose resets, from the trace of the target's port: the sender, the kernel's reason and its meaning. */
function tracedResets(t: TracedResets, target: string | undefined, targetIsLocal: boolean | undefined): Verdict[] {
  const port = targetPort(target);
  const lost = t.lostEvents > 0 ? ` (${countOf(t.lostEvents, 'event')} lost by the trace: counts may be short)` : '';
  const { sent, check } = withoutOwnCheck(t.sent);
  const own = check ? "bench's own check of the target before the run ended with one more reset, on purpose." : '';
  if (sent.length === 0 && t.receivedByClient === 0) {
    return [
      {
        severity: 'ok',
        text: `no resets on port ${port} during the run (traced)${check ? ", but for bench's own check of the target before it, which ends with one on purpose" : ''}${lost}.`,
      },
    ];
  }
  const out: Verdict[] = [];
  for (const sender of ['client', 'server'] as const) {
    const mine = sent.filter((x) => x.sender === sender);
    if (mine.length === 0) continue;
    const total = mine.reduce((a, x) => a + x.count, 0);
    const kinds = mine.map((x) => {
      const meaning = resetReasonMeaning(x.reason);
      return `${formatCount(x.count)} ${x.reason}${x.state ? ` in ${x.state}` : ''}${meaning ? `: ${meaning}` : ''}`;
    });
    out.push({
      severity: 'info',
      text: `${SENDER[sender]} sent ${countOf(total, 'RST')} on port ${port} (traced) — ${kinds.join('; ')}${lost}.`,
    });
  }
  const fromServer = sent.filter((x) => x.sender === 'server').reduce((a, x) => a + x.count, 0);
  if (t.receivedByClient > 0 && (!targetIsLocal || fromServer === 0)) {
    out.push({
      severity: 'info',
      text: `this client's sockets received ${countOf(t.receivedByClient, 'RST')} from port ${port}${targetIsLocal ? '' : ' (sent by the server or something on the way; the kernel gives no reason for a reset received)'}.`,
    });
  }
  if (own) out.push({ severity: 'info', text: own });
  return out;
}

/** This run's own TIME_WAIT (peak minus what was there at start); older files only have the peak. */
export function timeWaitAddedOf(k: KernelFootprint): number {
  return k.timeWaitAdded ?? Math.max(0, k.timeWaitPeak - (k.timeWaitAtStart ?? 0));
}

function formatSeconds(s: number): string {
  return s >= 1 && Number.isInteger(s) ? `${s} s` : `${Math.round(s * 1000)} ms`;
}
