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
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** Kernel samples taken in this second, when sampled. */
  timeWait?: number;
  ephemeralPorts?: number;
}

/** What the run did to the kernel (Linux): sampled once a second and from counters before/after. */
export interface KernelFootprint {
  /** Most TIME_WAIT sockets seen at once with the target's port at either end. */
  timeWaitPeak: number;
  /** Of those, on the client side (remote port = target port) and on the server side (local port = target port). */
  timeWaitPeakClientSide: number;
  timeWaitPeakServerSide: number;
  /** TIME_WAIT with the target's port already there before the load began (an earlier run within 60 s): the peaks include them. */
  timeWaitAtStart?: number;
  /** Most local ephemeral ports held at once towards the target (any state). */
  ephemeralPortsPeak: number;
  /** ip_local_port_range minus ip_local_reserved_ports: what one destination can use. */
  ephemeralPortsUsable: number;
  samples: number;
  /** Counter deltas over the run (whole network namespace: other traffic counts too). */
  counters: Record<string, number>;
  /** True when the target's address is on this host, so both ends were seen. */
  targetIsLocal: boolean;
}

export interface Verdict {
  severity: 'critical' | 'warning' | 'info' | 'ok';
  text: string;
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
  requests: { total: number; ok: number; failed: number; perSecond: number };
  bytes: { read: number; perSecond: number };
  latencyMs: Percentiles;
  connectMs?: Percentiles;
  tlsMs?: Percentiles;
  connectionsOpened: number;
  newConnectionsPerSecond: number;
  errors: Record<string, number>;
  errorDetails: ErrorDetail[];
  statuses: Record<string, number>;
  kernel?: KernelFootprint;
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
}
