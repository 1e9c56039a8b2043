// Prometheus metrics of one server on a registry of its own: connections by state, requests,
// event-loop delay, and prom-client's default process metrics.

import { createHistogram, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Registry, Gauge, Counter, collectDefaultMetrics } from 'prom-client';
import type { ConnectionObserver } from './conn-state.ts';
import type { PoolStats } from '../model/pool-stats.ts';

export interface ServerMetricsOptions {
  /** Source of the connection metrics; without one only event-loop and process metrics are exported. */
  observer?: ConnectionObserver;
  /** Prefix of our own metric names (prom-client's default metrics keep their standard names). */
  prefix?: string;
  /** Register prom-client's collectDefaultMetrics (process CPU, memory, GC, handles…). Default true. */
  defaultMetrics?: boolean;
  /** Client pools to export, by name (createPool's stats()). */
  pools?: () => Record<string, PoolStats>;
}

export interface ServerMetrics {
  /** A registry of its own, never prom-client's global one, so that servers and tests do not clash. */
  registry: Registry;
  /** The Content-Type of the text that `metrics()` returns. */
  contentType: string;
  /** The exposition text, collected now. */
  metrics(): Promise<string>;
  /** Stop the event-loop monitor and empty the registry. */
  close(): void;
}

/** Event-loop delay over one window, in nanoseconds; all 0 when the window had no sample. */
export interface EventLoopDelay {
  samples: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  maxNs: number;
  meanNs: number;
}

export interface EventLoopDelayWindows {
  /** The delay since the previous take() (or the start), and a new window begins. */
  take(): EventLoopDelay;
  close(): void;
}

/**
 * Event-loop delay in windows that end when read. perf_hooks.monitorEventLoopDelay would do but
 * for its reset(), which also forgets the previous tick: a stall that begins right after a read
 * (say, the work the scrape itself triggered) is never recorded. A recordable histogram re-armed
 * at once after each reset keeps it.
 */
export function eventLoopDelayWindows(resolutionMs = 10): EventLoopDelayWindows {
  const h = createHistogram();
  h.recordDelta();
  // Each tick records the time since the previous one: resolutionMs when the loop is free, more when not.
  const timer = setInterval(() => h.recordDelta(), resolutionMs).unref();
  return {
    take: () => {
      const has = h.count > 0;
      const out: EventLoopDelay = {
        samples: h.count,
        p50Ns: has ? h.percentile(50) : 0,
        p90Ns: has ? h.percentile(90) : 0,
        p99Ns: has ? h.percentile(99) : 0,
        maxNs: has ? h.max : 0,
        meanNs: has ? h.mean : 0,
      };
      h.reset();
      h.recordDelta();
      return out;
    },
    close: () => clearInterval(timer),
  };
}

const QUANTILES = ['0.5', '0.9', '0.99', '1'] as const;

/**
 * A Prometheus summary from percentiles we already have (an HDR or perf_hooks histogram):
 * prom-client's own Summary would need every observation again.
 */
function registerSummary(
  registry: Registry,
  name: string,
  help: string,
  collect: () => { labels: Record<string, string>; quantiles: readonly number[]; sum: number; count: number }[],
): void {
  const get = () => {
    const values: { labels: Record<string, string>; value: number; metricName?: string }[] = [];
    for (const r of collect()) {
      for (const [i, quantile] of QUANTILES.entries())
        values.push({ labels: { ...r.labels, quantile }, value: r.quantiles[i] ?? 0 });
      values.push({ metricName: `${name}_sum`, labels: r.labels, value: r.sum });
      values.push({ metricName: `${name}_count`, labels: r.labels, value: r.count });
    }
    return { name, help, type: 'summary', values, aggregator: 'sum' };
  };
  registry.registerMetric({ name, help, get } as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** Counters whose source is a monotonic total read at scrape time: add what grew since the last one. */
function totalFrom(read: () => number): (this: Counter) => void {
  let last = 0;
  return function collect(this: Counter) {
    const now = read();
    // A new observer restarts at zero: a counter reset is what Prometheus expects to see then.
    if (now < last) {
      this.reset();
      last = 0;
    }
    if (now > last) this.inc(now - last);
    last = now;
  };
}

export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const { observer, prefix = 'tcplens_', defaultMetrics = true } = options;
  const registry = new Registry();
  const registers = [registry];

  if (observer) {
    new Gauge({
      name: `${prefix}http_connections`,
      help: 'HTTP connections open now, by state (new, active, idle, hijacked), as the connection observer sees them.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const c = observer.counts();
        this.set({ state: 'new' }, c.new);
        this.set({ state: 'active' }, c.active);
        this.set({ state: 'idle' }, c.idle);
        this.set({ state: 'hijacked' }, c.hijacked);
      },
    });
    new Counter({
      name: `${prefix}http_connections_closed_total`,
      help: 'HTTP connections closed since the connection observer started.',
      registers,
      collect: totalFrom(() => observer.counts().closed),
    });
    new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests received (upgrades included) since the connection observer started.',
      registers,
      collect: totalFrom(() => observer.requestsTotal()),
    });
  }

  // Percentiles over the interval between two scrapes, as prom-client's own lag metrics do, so
  // that one bad minute is not averaged away by a day of good ones.
  const delay = eventLoopDelayWindows();
  // A summary: quantiles over the window since the previous scrape, _sum and _count since the start.
  let delaySumS = 0;
  let delayCount = 0;
  registerSummary(
    registry,
    `${prefix}eventloop_delay_seconds`,
    'Event-loop delay: quantiles since the previous scrape (quantile 1 is the maximum), sum and count since the start.',
    () => {
      // One take() for all quantiles, so that they cover the same interval.
      const d = delay.take();
      delaySumS += (d.meanNs * d.samples) / 1e9;
      delayCount += d.samples;
      return [
        {
          labels: {},
          quantiles: [d.p50Ns / 1e9, d.p90Ns / 1e9, d.p99Ns / 1e9, d.maxNs / 1e9],
          sum: delaySumS,
          count: delayCount,
        },
      ];
    },
  );
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  new Gauge({
    name: `${prefix}eventloop_utilization_ratio`,
    help: 'Share of time the event loop was busy since the previous scrape (0 to 1).',
    registers,
    collect() {
      const now = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(now, elu);
      this.set(Number.isFinite(utilization) ? utilization : 0); // two scrapes in the same instant
      elu = now;
    },
  });

  if (options.pools) {
    const pools = options.pools;
    new Gauge({
      name: `${prefix}pool_connections`,
      help: 'Client pool connections and requests now: connected, free, pending, queued, running.',
      labelNames: ['pool', 'state'] as const,
      registers,
      collect() {
        for (const [pool, st] of Object.entries(pools())) {
          for (const state of ['connected', 'free', 'pending', 'queued', 'running'] as const)
            this.set({ pool, state }, st[state]);
        }
      },
    });
    registerSummary(
      registry,
      `${prefix}pool_queue_wait_seconds`,
      'Time requests waited for a pool connection since the pool started (the contention signal); quantile 1 is the maximum.',
      () =>
        Object.entries(pools()).map(([pool, st]) => {
          const q = st.queueWaitMs;
          return {
            labels: { pool },
            quantiles: [q.p50 / 1000, q.p90 / 1000, q.p99 / 1000, q.max / 1000],
            sum: (q.mean * q.count) / 1000,
            count: q.count,
          };
        }),
    );
  }

  // Standard names (process_*, nodejs_*), unprefixed, so that existing Node.js dashboards work.
  if (defaultMetrics) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which promtool's lint rejects; the same numbers by type remain
    // (nodejs_active_handles{type}, …).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(name);
  }

  return {
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    close: () => {
      delay.close();
      registry.clear();
    },
  };
}
