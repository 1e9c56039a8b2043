// What the dashboard's server sends its page: the shapes of its server-sent events and API answers.
// Types only, so the page (web/) imports them without pulling in anything of Node.

import type { Finding } from '../model/finding.ts';

export interface PortCountView {
  port: number;
  count: number;
  /** Owner of the listener on that port, when known. */
  process?: string;
  pid?: number;
}

/** A top-N list: the biggest entries, and what the rest add up to. */
export interface TopView<T> {
  top: T[];
  /** Sockets counted in `total` but not in `top`. */
  other: number;
  total: number;
}

export interface PeerView {
  address: string;
  /** null: not among the top N of that state (so at most the smallest shown). */
  established: number | null;
  timeWait: number | null;
}

export interface ListenerView {
  address: string;
  port: number;
  family: 'ipv4' | 'ipv6';
  /** Connections waiting in the accept queue now. */
  queue: number;
  /** min(backlog, somaxconn), or null when ss could not tell. */
  maxQueue: number | null;
  /** queue / maxQueue, or null when the maximum is unknown. */
  fill: number | null;
  process?: string;
  pid?: number;
}

export interface DestinationView {
  address: string;
  port: number;
  /** Local ephemeral ports held towards it, and of those in TIME_WAIT. */
  ports: number;
  timeWait: number;
  /** ports / usable range. */
  share: number;
}

/** One point of every live chart and the tables under them: event `sample`, once a second. */
export interface DashboardFrame {
  /** Unix time of the sample, seconds (uPlot's x axis). */
  t: number;
  /** How long taking the sample took, ms. */
  sampleMs: number;
  sockets: {
    total: number;
    byState: Record<string, number>;
    byFamily: Record<string, number>;
  };
  ephemeral: {
    low: number;
    high: number;
    usable: number;
    inUse: number;
    destinations: DestinationView[];
  } | null;
  /**
   * Counter changes per second since the previous sample, keyed "Section.Field" (TcpExt.ListenOverflows),
   * only those that moved (absent: 0); null on the first sample, which has nothing to compare with.
   */
  rates: Record<string, number> | null;
  listeners: ListenerView[];
  /** TIME_WAIT towards remote ports: this host connected out and closed first. */
  timeWaitClientSide: TopView<PortCountView>;
  /** TIME_WAIT on listening ports: the server side closed first. */
  timeWaitServerSide: TopView<PortCountView>;
  establishedLocal: TopView<PortCountView>;
  establishedRemote: TopView<PortCountView>;
  /** Remote addresses with the most ESTABLISHED and TIME_WAIT sockets. */
  peers: PeerView[];
  /** Drops and resets by the kernel's reason (--ebpf); null without a trace. */
  reasons: ReasonFrame | null;
  /** RTT and retransmits of ESTABLISHED connections from tcp_info; null until the first reading. */
  rtt: RttFrame | null;
}

export interface PeerRttView {
  /** Remote address, or "other" for every peer past the top N. */
  peer: string;
  connections: number;
  /** Nearest-rank, over the connections that report an RTT; null for none. */
  rttMedianMs: number | null;
  rttP99Ms: number | null;
  /** Segments retransmitted over the life of the peer's open connections. */
  retransmits: number;
}

/** RTTs of every ESTABLISHED connection now (tcp_info through netlink), and per peer. */
export interface RttFrame {
  /** Why there is no reading (netlink cannot be used here); the rest is then empty. */
  why: string | null;
  connections: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** The top N peers by connections, then "other" when some were left out. */
  peers: PeerRttView[];
}

/**
 * Drops and resets by reason, keyed "drop NAME", "reset sent NAME" and "reset received" (the kernel
 * gives no reason for those); NAME is the running kernel's, or "other" past the first few of a kind.
 */
export interface ReasonFrame {
  /** Per second since the previous frame, only those that moved (absent: 0); null on the first. */
  rates: Record<string, number> | null;
  /** Since the trace began. */
  totals: Record<string, number>;
  /** Events the kernel or bpftrace lost so far: the counts are short by at most this. */
  lostEvents: number;
  /** False once the trace ended on its own. */
  running: boolean;
}

/** Event `hello`, first on every connection: who we watch, and the frames already taken. */
export interface DashboardHello {
  host: string;
  kernel: string;
  version: string;
  intervalMs: number;
  findingsIntervalMs: number;
  history: DashboardFrame[];
  findings: DashboardFindings | null;
  /** Whether drops and resets are traced by reason (--ebpf), and if not, why (null: --ebpf was not asked). */
  ebpf: { tracing: boolean; why: string | null };
}

/** Event `findings`, every findingsIntervalMs: doctor's diagnosis of the last window. */
export interface DashboardFindings {
  /** Unix time the window ended, seconds. */
  t: number;
  windowS: number;
  findings: Finding[];
  /** What a run as root would have seen that this one could not. */
  rootWouldAdd: string[];
}

/** Event `problem`: the sampler failed (the page shows it; the stream stays up). */
export interface DashboardProblem {
  message: string;
}

/** One run of a bench --json file as the viewer draws it (POST /api/bench answers { runs }). */
export interface BenchRunView {
  name: string;
  target: string;
  method: string;
  mode: 'keepalive' | 'close';
  connections: number;
  durationS: number;
  merged?: number;
  requests: { total: number; ok: number; failed: number; perSecond: number };
  latencyMs: Record<'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean', number>;
  connectionsOpened: number;
  errors: Record<string, number>;
  timeWaitPeak: number | null;
  verdict: { severity: string; text: string }[];
  timeline: {
    t: number[];
    requests: number[];
    errors: number[];
    p50Ms: number[];
    p99Ms: number[];
    timeWait: (number | null)[];
    ephemeralPorts: (number | null)[];
  };
  /** The latency percentile curve from the HDR histogram: x = 1 / (1 - q), y = ms. */
  curve: { x: number[]; y: number[] };
}

export interface BenchView {
  runs: BenchRunView[];
}
