// Turns what a run recorded into a BenchResult: percentiles in milliseconds, errors explained, the timeline.

import * as hdr from 'hdr-histogram-js';
import type { BenchResult, ErrorDetail, KernelFootprint, Percentiles, TimelinePoint } from '../model/bench-result.ts';
import { errorMeaning } from './error-meanings.ts';
import type { ErrorCount, SecondSample } from './recorder.ts';
import { verdict } from './verdict.ts';
import type { Engine } from './engine.ts';

/** Percentiles of a microsecond histogram, in milliseconds. */
export function percentilesMs(h: hdr.Histogram): Percentiles {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { p50: 0, p75: 0, p90: 0, p99: 0, p999: 0, p9999: 0, max: 0, min: 0, mean: 0, stdev: 0 };
  return {
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
  };
}

/** Everything a run (or several merged) measured, before it becomes a result. */
export interface RunData {
  target: string;
  mode: 'keepalive' | 'close';
  method: string;
  connections: number;
  pipelining: number;
  workers: number;
  rate?: number;
  durationS: number;
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
  connectionsOpened: number;
  timeline: SecondSample[];
  kernel?: KernelFootprint;
  merged?: number;
}

export function summarize(d: RunData): BenchResult {
  const total = d.completed + d.failed;
  const seconds = d.durationS > 0 ? d.durationS : 1;
  const statuses: Record<string, number> = {};
  d.statuses.forEach((n, code) => {
    if (n > 0) statuses[String(code)] = n;
  });
  const errorDetails: ErrorDetail[] = [...d.errors]
    .map(([code, e]) => ({ code, count: e.count, first: e.first, meaning: errorMeaning(code) }))
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
    requests: { total, ok: d.ok, failed: d.failed, perSecond: Math.round((d.completed / seconds) * 10) / 10 },
    bytes: { read: d.bytesRead, perSecond: Math.round(d.bytesRead / seconds) },
    latencyMs: percentilesMs(d.latency),
    connectMs: d.connect.totalCount ? percentilesMs(d.connect) : undefined,
    tlsMs: d.tlsUsed && d.tls.totalCount ? percentilesMs(d.tls) : undefined,
    connectionsOpened: d.connectionsOpened,
    newConnectionsPerSecond: Math.round((d.connectionsOpened / seconds) * 10) / 10,
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
export function engineResult(engine: Engine, meta: { target: string; mode: 'keepalive' | 'close'; method: string }): BenchResult {
  const r = engine.rec;
  const c = engine.config;
  return summarize({
    target: meta.target,
    mode: meta.mode,
    method: meta.method,
    connections: c.connections,
    pipelining: c.pipelining ?? 1,
    workers: 1,
    rate: c.ratePerSec,
    durationS: engine.elapsedMs / 1000,
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
    timeline: r.timeline,
  });
}
