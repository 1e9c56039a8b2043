// The result of one load run: what `tcplens bench --json` prints and `bench merge` adds up.

export interface Percentiles {
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
  min: number;
  mean: number;
  stdev: number;
}

export interface ErrorDetail {
  code: string;
  count: number;
  /** The first message seen, verbatim. */
  first: string;
  /** What this code means for a load test, in one line. */
  meaning: string;
}

export interface TimelinePoint {
  /** End of this second, seconds since the measured run began. */
  t: number;
  requests: number;
  /** Requests that failed and connect attempts that failed in this second. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** Kernel samples taken in this second, when sampled. */
  timeWait?: number;
  ephemeralPorts?: number;
}

/** The knobs that decide whether connect() may take over a port still in TIME_WAIT, read at the run. */
export interface TimeWaitReuse {
  /** net.ipv4.tcp_tw_reuse: 0 off, 1 every outgoing connection, 2 (the default) loopback only. */
  tcpTwReuse: number;
  /** net.ipv4.tcp_timestamps: reuse is safe only with timestamps, so 0 turns it off. */
  tcpTimestamps: number;
  /** net.ipv4.tcp_tw_reuse_delay (ms) where the kernel has it, else 1000: a TIME_WAIT this young is not reused. */
  delayMs: number;
  /** The target's address is a loopback one (127.0.0.0/8, ::1): what tcp_tw_reuse=2 covers. */
  targetIsLoopback: boolean;
}

/** What the run did to the kernel (Linux): sampled once a second and from counters before/after. */
export interface KernelFootprint {
  /** Most TIME_WAIT sockets seen at once with the target's port at either end, in the measured part (warm-up excluded). */
  timeWaitPeak: number;
  /** Of those, on the client side (remote port = target port) and on the server side (local port = target port). */
  timeWaitPeakClientSide: number;
  timeWaitPeakServerSide: number;
  /** TIME_WAIT with the target's port already there before the load began (an earlier run within 60 s): the peaks include them. */
  timeWaitAtStart?: number;
  /** Of those, on each side. */
  timeWaitAtStartClientSide?: number;
  timeWaitAtStartServerSide?: number;
  /**
   * This run's own TIME_WAIT: the most seen at once above what was there when the measured part
   * began (peak minus start), in all and on each side. What --compare and the verdict use.
   */
  timeWaitAdded?: number;
  timeWaitAddedClientSide?: number;
  timeWaitAddedServerSide?: number;
  /** Most local ports inside ip_local_port_range, reserved excluded, held at once towards the target (any state). */
  ephemeralPortsPeak: number;
  /** ip_local_port_range minus ip_local_reserved_ports: what one destination can use. */
  ephemeralPortsUsable: number;
  samples: number;
  /** Counter deltas over the run (whole network namespace: other traffic counts too). */
  counters: Record<string, number>;
  /** True when the target's address is on this host, so both ends were seen. */
  targetIsLocal: boolean;
  /** After bench merge, when only some parts had a kernel section: the figures are those parts' alone. */
  fromParts?: { with: number; of: number };
  /** The TIME_WAIT reuse knobs at the run (absent in files from older versions, or merged machines that differ). */
  timeWaitReuse?: TimeWaitReuse;
}

export interface Verdict {
  severity: 'critical' | 'warning' | 'info' | 'ok';
  text: string;
}

/** Resets of one kind traced on the target's port during a run (bench --trace). */
export interface TracedReset {
  /** Whose socket sent it: this client's (its remote port is the target's) or the server's (its local port is). */
  sender: 'client' | 'server';
  /** The kernel's reason (enum sk_rst_reason, Linux 6.10+), "unknown" before. */
  reason: string;
  /** The sending socket's state, when the kernel knew the socket. */
  state: string | null;
  count: number;
}

/** Resets on the target's port seen by tracepoints during the run, warm-up included (bench --trace, root). */
export interface TracedResets {
  /** Most first. */
  sent: TracedReset[];
  /** Resets this client's sockets received (the kernel gives no reason for those). */
  receivedByClient: number;
  /** Events the kernel or bpftrace lost: the counts are short by at most this. */
  lostEvents: number;
}

export interface BenchResult {
  tool: 'tcplens';
  version: 1;
  target: string;
  mode: 'keepalive' | 'close';
  method: string;
  connections: number;
  pipelining: number;
  workers: number;
  /** Requests per second asked for (open model), when -R was given. */
  rate?: number;
  /** Measured seconds (after warm-up). */
  durationS: number;
  /** Seconds run before measuring (--warmup); not recorded. Absent without a warm-up. */
  warmupS?: number;
  requests: { total: number; ok: number; failed: number; perSecond: number };
  bytes: { read: number; perSecond: number };
  latencyMs: Percentiles;
  connectMs?: Percentiles;
  tlsMs?: Percentiles;
  /** Connections opened in the measured part (after warm-up). */
  connectionsOpened: number;
  newConnectionsPerSecond: number;
  /**
   * Connections opened during warm-up and still open when measuring began: they carried measured
   * requests but are not in connectionsOpened. Absent without a warm-up.
   */
  connectionsFromWarmup?: number;
  /**
   * Connect attempts that failed (refused, unreachable, no local port, connect timeout). Not requests:
   * nothing was sent on them, so they are in neither requests.total nor requests.failed; their codes
   * are counted in errors and errorDetails with the failed requests'.
   */
  connectErrors?: number;
  /**
   * Errors by code: failed requests, failed connects, and bytes that came with no request outstanding
   * ("parse": a stream out of step, which fails no request).
   */
  errors: Record<string, number>;
  errorDetails: ErrorDetail[];
  statuses: Record<string, number>;
  kernel?: KernelFootprint;
  /** With --trace: the resets on the target's port, whose and why. */
  resetsTraced?: TracedResets;
  verdict: Verdict[];
  timeline: TimelinePoint[];
  /** The latency histogram, microseconds, compressed HDR (HdrHistogram's base64 format). */
  histogram: string;
  /** Connect and TLS-handshake histograms, same format, for exact merging. */
  connectHistogram?: string;
  tlsHistogram?: string;
  /** Per-second histograms, for exact merging of timelines. */
  timelineHistograms?: string[];
  /** How many results were merged into this one (bench merge). */
  merged?: number;
  /** The run was stopped early by the user (Ctrl-C): a partial result. */
  interrupted?: true;
  /** Ctrl-C came during warm-up: nothing was measured (the figures are zeros, not results). */
  interruptedInWarmup?: true;
  /**
   * A -n run stopped before its count: every connect failed for --connect-timeout in a row (the target
   * is gone, or no local port is left); without it the run would never end.
   */
  gaveUp?: true;
}
