// Turns what a run recorded into a BenchResult: percentiles in milliseconds, errors explained, the timeline.

import * as hdr from 'hdr-histogram-js';
import type { BenchResult, ErrorDetail, Percentiles, TimelinePoint } from '../model/bench-result.ts';
import { errorMeaning, oneLineMessage } from './error-meanings.ts';
import type { ErrorCount, SecondSample } from './recorder.ts';
import { verdict } from './verdict.ts';
import type { Engine } from './engine.ts';

/**
 * Percentiles held between min and max. A histogram answers a percentile with the top of its bucket
 * (41.343 ms for a 41.334 ms maximum at 3 significant digits) and min with the bottom of its own,
 * while max and min are the exact values seen: without this a p99.99 could exceed the max.
 */
export function clampPercentiles(p: Percentiles): Percentiles {
  const clamp = (x: number) => Math.min(p.max, Math.max(p.min, x));
  return {
    ...p,
    p50: clamp(p.p50),
    p75: clamp(p.p75),
    p90: clamp(p.p90),
    p99: clamp(p.p99),
    p999: clamp(p.p999),
    p9999: clamp(p.p9999),
  };
}

/** Percentiles of a microsecond histogram, in milliseconds. */
export function percentilesMs(h: hdr.Histogram): Percentiles {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0)
    return { p50: 0, p75: 0, p90: 0, p99: 0, p999: 0, p9999: 0, max: 0, min: 0, mean: 0, stdev: 0 };
  return clampPercentiles({
    p50: ms(h.getValueAtPercentile(50)),
    p75: ms(h.getValueAtPercentile(75)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    p9999: ms(h.getValueAtPercentile(99.99)),
    max: ms(h.maxValue),
    min: ms(h.minNonZeroValue),
    mean: ms(h.mean),
    stdev: ms(h.stdDeviation),
  });
}

/**
 * Everything a run (or several merged) measured, before it becomes a result: the result's own
 * settings and counts as they are, and what the result summarizes (histograms, status and error
 * counts, per-second samples) still raw.
 */
export type RunData = Pick<
  BenchResult,
  | 'target'
  | 'mode'
  | 'method'
  | 'connections'
  | 'pipelining'
  | 'workers'
  | 'rate'
  | 'durationS'
  | 'warmupS'
  | 'connectionsOpened'
  | 'connectErrors'
  | 'connectionsFromWarmup'
  | 'kernel'
  | 'merged'
> & {
  latency: hdr.Histogram;
  connect: hdr.Histogram;
  tls: hdr.Histogram;
  tlsUsed: boolean;
  statuses: Float64Array;
  errors: Map<string, ErrorCount>;
  ok: number;
  completed: number;
  failed: number;
  bytesRead: number;
  timeline: SecondSample[];
};

export function summarize(d: RunData): BenchResult {
  const total = d.completed + d.failed;
  const seconds = d.durationS > 0 ? d.durationS : 1;
  const statuses: Record<string, number> = {};
  d.statuses.forEach((n, code) => {
    if (n > 0) statuses[String(code)] = n;
  });
  const errorDetails: ErrorDetail[] = [...d.errors]
    .map(([code, e]) => ({
      code,
      count: e.count,
      first: oneLineMessage(e.first),
      meaning: errorMeaning(code, e.first),
    }))
    .sort((a, b) => b.count - a.count);
  const errors = Object.fromEntries(errorDetails.map((e) => [e.code, e.count]));
  const timeline: TimelinePoint[] = d.timeline.map((s) => {
    const h = hdr.decodeFromCompressedBase64(s.histogram);
    const point: TimelinePoint = {
      t: s.t,
      requests: s.requests,
      errors: s.errors,
      p50Ms: h.totalCount ? h.getValueAtPercentile(50) / 1000 : 0,
      p99Ms: h.totalCount ? h.getValueAtPercentile(99) / 1000 : 0,
    };
    return point;
  });
  const result: BenchResult = {
    tool: 'tcplens',
    version: 1,
    target: d.target,
    mode: d.mode,
    method: d.method,
    connections: d.connections,
    pipelining: d.pipelining,
    workers: d.workers,
    rate: d.rate,
    durationS: Math.round(d.durationS * 1000) / 1000,
    warmupS: d.warmupS,
    requests: { total, ok: d.ok, failed: d.failed, perSecond: Math.round((d.completed / seconds) * 10) / 10 },
    bytes: { read: d.bytesRead, perSecond: Math.round(d.bytesRead / seconds) },
    latencyMs: percentilesMs(d.latency),
    connectMs: d.connect.totalCount ? percentilesMs(d.connect) : undefined,
    tlsMs: d.tlsUsed && d.tls.totalCount ? percentilesMs(d.tls) : undefined,
    connectionsOpened: d.connectionsOpened,
    newConnectionsPerSecond: Math.round((d.connectionsOpened / seconds) * 10) / 10,
    connectionsFromWarmup: d.connectionsFromWarmup,
    connectErrors: d.connectErrors,
    errors,
    errorDetails,
    statuses,
    kernel: d.kernel,
    verdict: [],
    timeline,
    histogram: hdr.encodeIntoCompressedBase64(d.latency),
    connectHistogram: d.connect.totalCount ? hdr.encodeIntoCompressedBase64(d.connect) : undefined,
    tlsHistogram: d.tlsUsed && d.tls.totalCount ? hdr.encodeIntoCompressedBase64(d.tls) : undefined,
    timelineHistograms: d.timeline.map((s) => s.histogram),
  };
  if (d.merged) result.merged = d.merged;
  result.verdict = verdict(result);
  return result;
}

/** The result of one engine's run (this thread's, or one worker's). */
export function engineResult(
  engine: Engine,
  meta: { target: string; mode: 'keepalive' | 'close'; method: string },
): BenchResult {
  const r = engine.rec;
  const c = engine.config;
  const result = summarize({
    target: meta.target,
    mode: meta.mode,
    method: meta.method,
    connections: c.connections,
    pipelining: c.pipelining ?? 1,
    workers: 1,
    rate: c.ratePerSec,
    durationS: engine.elapsedMs / 1000,
    warmupS: c.warmupMs ? c.warmupMs / 1000 : undefined,
    latency: r.latency,
    connect: r.connect,
    tls: r.tls,
    tlsUsed: c.target.tls,
    statuses: r.statuses,
    errors: r.errors,
    ok: r.ok,
    completed: r.completed,
    failed: r.failed,
    bytesRead: r.bytesRead,
    connectionsOpened: r.connectionsOpened,
    connectionsFromWarmup: r.connectionsFromWarmup,
    connectErrors: r.connectErrors,
    timeline: r.timeline,
  });
  if (engine.gaveUp) result.gaveUp = true;
  return result;
}
