// The exporter's metrics: a HostSample rendered as Prometheus text on a registry of its own, one
// sample per scrape, shared (sample and text) by scrapes that arrive while it is being taken.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { SYSCTL_CATALOG } from '../analyze/sysctl-catalog.ts';
import { parseSysctlValue, portCount, type PortRange } from '../kernel/sysctl.ts';
import { SEVERITY_ORDER, type Severity } from '../model/finding.ts';
import { UNKNOWN_REASON, type ReasonSource } from '../model/reason-totals.ts';
import { TCP_STATES } from '../model/tcp-state.ts';
import { PREFIX, counterHelp, counterKind, counterMetricName, sysctlMetricName } from './exporter-names.ts';
import { RTT_BOUNDS_MS } from '../analyze/socket-query.ts';
import {
  DEFAULT_TOP_N,
  createSampler,
  type HostSample,
  type PeerRtt,
  type Sampler,
  type SamplerOptions,
  type StateBreakdown,
} from './sample.ts';
import { formatHostPort } from '../text/host-port.ts';

export interface HostMetricsOptions extends SamplerOptions {
  /**
   * A sampler to share (the dashboard's, say); by default one of our own from the other options.
   * A shared sampler's own peerRtt option decides whether per-peer RTT is read (rttIntervalMs does not).
   */
  sampler?: Sampler;
  /** A running trace of drops and resets (--ebpf): without one, their metrics are absent. */
  reasons?: ReasonSource;
  /** How often per-peer RTT and retransmits are read from tcp_info (the sample's one scan asks for it then); 0: never. */
  rttIntervalMs?: number;
}

/** Per-peer RTTs are read at most this often by default: a scan of every connection with its tcp_info. */
export const DEFAULT_RTT_INTERVAL_MS = 15_000;

/**
 * Scrapes within this long of a sample share it. The scan of /proc/net/tcp is synchronous, so
 * scrapes that arrive while it runs are only read after it: a window, not just the sample in
 * flight, is what makes simultaneous scrapes (an HA pair of Prometheus servers) share one sample.
 */
export const DEFAULT_SHARE_MS = 500;

export interface HostMetrics {
  /** Never prom-client's global registry: two exporters (or tests) in one process do not clash. */
  registry: Registry;
  /** The Content-Type of the text scrape() returns. */
  contentType: string;
  /** Take (or share) one sample and render it. Concurrent calls get the same sample and text. */
  scrape(): Promise<string>;
  /** Render a given sample; `arrivedAt` (performance.now()) starts the scrape's duration. */
  render(sample: HostSample, arrivedAt?: number): Promise<string>;
  close(): void;
}

type Labels = Record<string, string>;

/** tcp_info counts RTT in whole microseconds: seconds without the float noise of ms / 1000. */
const seconds = (ms: number) => Math.round(ms * 1000) / 1e6;

const SEVERITIES = Object.keys(SEVERITY_ORDER) as Severity[];
const BREAKDOWN_STATES = [
  ['TIME_WAIT', 'timeWait'],
  ['ESTABLISHED', 'established'],
] as const;

export function createHostMetrics(options: HostMetricsOptions = {}): HostMetrics {
  const ownSampler = options.sampler === undefined;
  const rttIntervalMs = options.rttIntervalMs ?? DEFAULT_RTT_INTERVAL_MS;
  const sampler =
    options.sampler ??
    createSampler({
      minIntervalMs: DEFAULT_SHARE_MS,
      ...options,
      ...(rttIntervalMs > 0 ? { peerRtt: { intervalMs: rttIntervalMs, topN: options.topN ?? DEFAULT_TOP_N } } : {}),
    });
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name: PREFIX + name, help, labelNames, registers: [registry] });

  const sockets = gauge(
    'sockets',
    'TCP sockets by state and address family, every state listed (zeros included), from /proc/net/tcp and tcp6',
    ['state', 'family'],
  );
  const listenQueue = gauge(
    'listen_queue',
    "Connections waiting in listening sockets' accept queues (ss Recv-Q), summed over the sockets with this address and port (SO_REUSEPORT)",
    ['address', 'port'],
  );
  const listenQueueMax = gauge(
    'listen_queue_max',
    'Accept queue maximum, min(listen backlog, somaxconn) (ss Send-Q, from inet_diag), summed like tcplens_listen_queue; absent when ss is missing',
    ['address', 'port'],
  );
  const listeners = gauge(
    'listeners',
    'Listening sockets on this address and port, with the owning process when known',
    ['address', 'port', 'process'],
  );
  const byRemotePort = gauge(
    'sockets_by_remote_port',
    'TIME_WAIT and ESTABLISHED sockets by remote port: the top N ports of each state, the rest as port="other" (sums to the state total)',
    ['state', 'port'],
  );
  const byLocalPort = gauge(
    'sockets_by_local_port',
    'TIME_WAIT and ESTABLISHED sockets by local port, listening ports only: the top N of each state, the rest as port="other"; every other local port (a client\'s ephemeral ports) summed as port="ephemeral" (sums to the state total)',
    ['state', 'port'],
  );
  const byPeer = gauge(
    'sockets_by_peer',
    'TIME_WAIT and ESTABLISHED sockets by remote address: the top N of each state, the rest as peer="other" (sums to the state total)',
    ['state', 'peer'],
  );
  const ephemeralUsable = gauge(
    'ephemeral_ports_usable',
    'Ports connect() can pick: ip_local_port_range minus ip_local_reserved_ports',
  );
  const ephemeralInUse = gauge(
    'ephemeral_ports_in_use',
    'Distinct local ports of the ephemeral range in use now, towards any destination',
  );
  const ephemeralByDest = gauge(
    'ephemeral_ports_by_destination',
    'Local ephemeral ports held towards each destination (address:port) in any state: the top N, the rest as destination="other"; at tcplens_ephemeral_ports_usable connect() to it fails with EADDRNOTAVAIL',
    ['destination'],
  );
  const findingGauge = gauge(
    'doctor_finding',
    "Doctor's findings over the latest window, by id and severity (1 while present; see tcplens doctor for evidence and fix)",
    ['id', 'severity'],
  );
  const findingCount = gauge(
    'doctor_findings',
    "Number of doctor's findings over the latest window, by severity (zeros included)",
    ['severity'],
  );
  const findingWindow = gauge('doctor_window_seconds', "Length of the window doctor's latest findings cover");
  const sampleDuration = gauge('sample_duration_seconds', 'Time taken to read the sample this scrape shows');
  const sampleTime = gauge('sample_timestamp_seconds', 'When the sample this scrape shows was taken (Unix time)');
  const scrapeDuration = gauge(
    'scrape_duration_seconds',
    'Time the scrape that rendered this text took from its arrival to its metrics being set: waiting for or taking the sample, then updating (concurrent scrapes share one text)',
  );
  const scrapeSockets = gauge(
    'scrape_sockets',
    'TCP sockets read from /proc/net/tcp and tcp6 for the sample this scrape shows',
  );
  const scrapes = new Counter({
    name: `${PREFIX}scrapes_total`,
    help: 'Samples rendered for scrapes since the exporter started (scrapes sharing a sample count once)',
    registers: [registry],
  });
  const reasons = options.reasons;
  const kernelTotal = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name: PREFIX + name, help, labelNames, registers: [registry] });
  const drops = reasons
    ? kernelTotal(
        'drops_total',
        'TCP packets the kernel dropped, by its reason (skb:kfree_skb, the running kernel\'s enum skb_drop_reason names; past the first few reasons the rest are summed as reason="other"), since the exporter started',
        ['reason'],
      )
    : undefined;
  const resets = reasons
    ? kernelTotal(
        'resets_total',
        'TCP resets sent (tcp:tcp_send_reset, by the kernel\'s reason, Linux 6.10+; "unknown" before) and received (tcp:tcp_receive_reset: the kernel gives no reason, reason="unknown"), since the exporter started',
        ['direction', 'reason'],
      )
    : undefined;
  const traceLost = reasons
    ? kernelTotal(
        'trace_lost_events_total',
        'Drop and reset events the kernel or bpftrace lost (a full perf buffer, or a BPF program already running on that CPU, counted before any --ebpf-port filter): tcplens_drops_total and tcplens_resets_total are short by at most this',
      )
    : undefined;
  const traceUp = reasons
    ? gauge(
        'trace_up',
        'Whether the trace behind tcplens_drops_total and tcplens_resets_total is running (0: it ended, the totals stopped)',
      )
    : undefined;

  const peerConnections = gauge(
    'peer_connections',
    'ESTABLISHED connections by remote address, from tcp_info (netlink): the top N peers, the rest as peer="other" (sums to the connections read)',
    ['peer'],
  );
  const peerRttMedian = gauge(
    'peer_rtt_median_seconds',
    "Median smoothed RTT (tcpi_rtt) of the peer's ESTABLISHED connections, peers as in tcplens_peer_connections",
    ['peer'],
  );
  const peerRttP99 = gauge(
    'peer_rtt_p99_seconds',
    "99th percentile (nearest rank) of the smoothed RTT of the peer's ESTABLISHED connections",
    ['peer'],
  );
  const peerRetrans = gauge(
    'peer_retransmitted_segments',
    "Segments retransmitted over the life of the peer's open ESTABLISHED connections (tcpi_total_retrans summed); falls when connections close",
    ['peer'],
  );
  // Not a histogram: the distribution now, which goes down as well as up (rate() on it would lie), so
  // the bound is not called le either. Quantiles over every connection come with it.
  const rttBuckets = gauge(
    'connections_by_rtt',
    'ESTABLISHED connections whose smoothed RTT (tcpi_rtt) is at most at_most seconds now, cumulative; at_most="+Inf" is every connection read',
    ['at_most'],
  );
  const rttQuantile = (q: string) =>
    gauge(
      `connections_rtt_${q}_seconds`,
      `${q === 'p50' ? 'Median' : `${q.slice(1)}th percentile (nearest rank)`} of the smoothed RTT of every ESTABLISHED connection now`,
    );
  const rttP50 = rttQuantile('p50');
  const rttP90 = rttQuantile('p90');
  const rttP99 = rttQuantile('p99');
  const peerRttTime = gauge(
    'peer_rtt_timestamp_seconds',
    'When the tcp_info behind tcplens_peer_* and tcplens_connections_by_rtt was read (Unix time)',
  );

  // The exporter's own cost, under the names every Prometheus client library uses: process_cpu_seconds_total,
  // process_resident_memory_bytes, process_open_fds, process_max_fds, nodejs_eventloop_lag_*_seconds, ...
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  // Gauges named like counters, which promtool's lint rejects; nodejs_active_handles{type} and the like stay.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);

  // Counters and sysctls are created on first sight: the kernel decides which fields exist.
  const kernelCounters = new Map<string, Counter | Gauge>();
  const sysctlGauges = new Map<string, Gauge>();

  function kernelMetric(key: string): Counter | Gauge | undefined {
    let m = kernelCounters.get(key);
    if (m) return m;
    const kind = counterKind(key);
    if (!kind) return undefined;
    const config = { name: counterMetricName(key, kind), help: counterHelp(key), registers: [registry] };
    m = kind === 'counter' ? new Counter(config) : new Gauge(config);
    kernelCounters.set(key, m);
    return m;
  }

  function sysctlGauge(name: string, help: string): Gauge {
    let g = sysctlGauges.get(name);
    if (!g) {
      g = new Gauge({ name, help, registers: [registry] });
      sysctlGauges.set(name, g);
    }
    return g;
  }

  function setTop(g: Gauge, state: string, label: string, list: StateBreakdown[keyof StateBreakdown]): void {
    for (const e of list.top) g.set({ state, [label]: String(e.key) }, e.count);
    if (list.other > 0) g.set({ state, [label]: 'other' }, list.other);
  }

  function update(s: HostSample): void {
    for (const family of ['ipv4', 'ipv6'] as const) {
      for (const state of TCP_STATES) sockets.set({ state, family }, s.sockets.byFamilyState[family][state]);
    }

    listenQueue.reset();
    listenQueueMax.reset();
    listeners.reset();
    const agg = new Map<
      string,
      { labels: Labels; queue: number; max: number | null; count: number; process: string }
    >();
    for (const l of s.listeners) {
      const labels = { address: l.local.address, port: String(l.local.port) };
      const key = `${labels.address} ${labels.port}`;
      let a = agg.get(key);
      if (!a) agg.set(key, (a = { labels, queue: 0, max: 0, count: 0, process: '' }));
      a.queue += l.queue;
      a.max = a.max === null || l.maxQueue === null ? null : a.max + l.maxQueue;
      a.count++;
      if (!a.process && l.process) a.process = l.process;
    }
    for (const a of agg.values()) {
      listenQueue.set(a.labels, a.queue);
      if (a.max !== null) listenQueueMax.set(a.labels, a.max);
      listeners.set({ ...a.labels, process: a.process }, a.count);
    }

    byRemotePort.reset();
    byLocalPort.reset();
    byPeer.reset();
    for (const [state, field] of BREAKDOWN_STATES) {
      setTop(byRemotePort, state, 'port', s[field].byRemotePort);
      const { byLocalPort: local, byListeningPort: listening } = s[field];
      setTop(byLocalPort, state, 'port', listening);
      // Always present, zero included: on a client it is the one series that moves, instead of one per port.
      byLocalPort.set({ state, port: 'ephemeral' }, local.total - listening.total);
      setTop(byPeer, state, 'peer', s[field].byPeer);
    }

    ephemeralByDest.reset();
    if (s.ephemeral) {
      ephemeralUsable.set(s.ephemeral.usable);
      ephemeralInUse.set(s.ephemeral.portsInUse);
      for (const d of s.ephemeral.destinations) {
        ephemeralByDest.set({ destination: formatHostPort(d.remote.address, d.remote.port) }, d.ports);
      }
      if (s.ephemeral.otherSockets > 0) ephemeralByDest.set({ destination: 'other' }, s.ephemeral.otherSockets);
    }

    for (const [key, value] of Object.entries(s.counters)) {
      const m = kernelMetric(key);
      if (!m) continue;
      if (m instanceof Counter) {
        // The kernel's own total, as nstat shows it: set, not added to. A counter cannot go below zero.
        m.reset();
        if (value > 0) m.inc(value);
      } else m.set(value);
    }

    for (const knob of SYSCTL_CATALOG) {
      const text = s.sysctls[knob.name];
      if (text === undefined) continue;
      let value;
      try {
        value = parseSysctlValue(knob.shape, text, knob.name);
      } catch {
        continue; // a kernel printing something else: leave the gauge out rather than guess
      }
      const name = sysctlMetricName(knob.name);
      const source = `/proc/sys/${knob.name.replaceAll('.', '/')}`;
      if (typeof value === 'number') sysctlGauge(name, `${knob.what} (${source})`).set(value);
      else if (Array.isArray(value)) {
        const ports = value.reduce((n: number, r: PortRange) => n + portCount(r), 0);
        sysctlGauge(name, `Number of ports listed: ${knob.what} (${source})`).set(ports);
      } else {
        sysctlGauge(`${name}_low`, `Low end: ${knob.what} (${source})`).set(value.low);
        sysctlGauge(`${name}_high`, `High end: ${knob.what} (${source})`).set(value.high);
      }
    }

    findingGauge.reset();
    findingCount.reset();
    findingWindow.reset();
    if (s.findings) {
      for (const sev of SEVERITIES) findingCount.set({ severity: sev }, 0);
      for (const f of s.findings.findings) {
        findingGauge.inc({ id: f.id, severity: f.severity });
        findingCount.inc({ severity: f.severity });
      }
      findingWindow.set(s.findings.windowS);
    }

    sampleDuration.set(s.durationMs / 1000);
    sampleTime.set(s.takenAt / 1000);
    if (reasons) updateReasons();
    updatePeers(s.peerRtt);
  }

  function updatePeers(p: PeerRtt | undefined): void {
    for (const g of [
      peerConnections,
      peerRttMedian,
      peerRttP99,
      peerRetrans,
      rttBuckets,
      rttP50,
      rttP90,
      rttP99,
      peerRttTime,
    ])
      g.reset();
    if (!p) return;
    for (const group of p.rest ? [...p.peers, p.rest] : p.peers) {
      const labels = { peer: group.key };
      peerConnections.set(labels, group.count);
      if (group.rttMedianMs != null) peerRttMedian.set(labels, seconds(group.rttMedianMs));
      if (group.rttP99Ms != null) peerRttP99.set(labels, seconds(group.rttP99Ms));
      peerRetrans.set(labels, group.totalRetrans ?? 0);
    }
    for (const [i, bound] of RTT_BOUNDS_MS.entries())
      rttBuckets.set({ at_most: String(seconds(bound)) }, p.rtt.atMost[i]!);
    rttBuckets.set({ at_most: '+Inf' }, p.rtt.count);
    if (p.rtt.p50Ms !== null) rttP50.set(seconds(p.rtt.p50Ms));
    if (p.rtt.p90Ms !== null) rttP90.set(seconds(p.rtt.p90Ms));
    if (p.rtt.p99Ms !== null) rttP99.set(seconds(p.rtt.p99Ms));
    peerRttTime.set(p.takenAt / 1000);
  }

  function setTotal(c: Counter, labels: Labels, value: number): void {
    if (value > 0) c.inc(labels, value);
  }

  function updateReasons(): void {
    const t = reasons!.totals();
    // The trace's own totals, set rather than added to (as the kernel's counters are).
    drops!.reset();
    for (const [reason, n] of Object.entries(t.drops)) setTotal(drops!, { reason }, n);
    resets!.reset();
    for (const [reason, n] of Object.entries(t.resetsSent)) setTotal(resets!, { direction: 'sent', reason }, n);
    // Always present: the one series of its direction, zero included.
    resets!.inc({ direction: 'received', reason: UNKNOWN_REASON }, t.resetsReceived);
    traceLost!.reset();
    if (t.lostEvents > 0) traceLost!.inc(t.lostEvents);
    traceUp!.set(t.running ? 1 : 0);
  }

  // Renders run one at a time: update() and the registry's read must not interleave between samples.
  let chain: Promise<unknown> = Promise.resolve();
  const rendered = new WeakMap<HostSample, Promise<string>>();

  function render(sample: HostSample, arrivedAt = performance.now()): Promise<string> {
    let text = rendered.get(sample);
    if (!text) {
      text = chain.then(() => {
        update(sample);
        scrapes.inc();
        scrapeSockets.set(sample.sockets.total);
        scrapeDuration.set((performance.now() - arrivedAt) / 1000);
        return registry.metrics();
      });
      chain = text.catch(() => undefined);
      rendered.set(sample, text);
    }
    return text;
  }

  return {
    registry,
    contentType: registry.contentType,
    scrape: async () => {
      const arrivedAt = performance.now();
      const sample = await sampler.get();
      return render(sample, arrivedAt);
    },
    render,
    close() {
      if (ownSampler) sampler.close();
      registry.clear();
    },
  };
}
