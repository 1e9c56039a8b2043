// Adds up results exactly: histograms merged (never percentiles averaged), counts summed. Serves
// both worker threads of one run and `bench merge` of runs made at the same time on many machines.

import * as hdr from 'hdr-histogram-js';
import { UsageError } from '../errors.ts';
import type { BenchResult, KernelFootprint } from '../model/bench-result.ts';
import { newHistogram, type ErrorCount, type SecondSample } from './recorder.ts';
import { type RunData, summarize } from './summarize.ts';

function addEncoded(into: hdr.Histogram, encoded: string | undefined): void {
  if (!encoded) return;
  const h = hdr.decodeFromCompressedBase64(encoded, 32, false);
  into.add(h);
}

function mergeKernel(parts: (KernelFootprint | undefined)[]): KernelFootprint | undefined {
  const ks = parts.filter((k): k is KernelFootprint => k !== undefined);
  if (ks.length === 0) return undefined;
  const counters: Record<string, number> = {};
  for (const k of ks) for (const [name, n] of Object.entries(k.counters)) counters[name] = (counters[name] ?? 0) + n;
  // Each machine's own peak, added: an upper bound of the simultaneous total.
  const sum = (f: (k: KernelFootprint) => number) => ks.reduce((a, k) => a + f(k), 0);
  return {
    timeWaitPeak: sum((k) => k.timeWaitPeak),
    timeWaitPeakClientSide: sum((k) => k.timeWaitPeakClientSide),
    timeWaitPeakServerSide: sum((k) => k.timeWaitPeakServerSide),
    timeWaitAtStart: sum((k) => k.timeWaitAtStart ?? 0),
    ephemeralPortsPeak: Math.max(...ks.map((k) => k.ephemeralPortsPeak)),
    ephemeralPortsUsable: Math.min(...ks.map((k) => k.ephemeralPortsUsable)),
    samples: sum((k) => k.samples),
    counters,
    targetIsLocal: ks.every((k) => k.targetIsLocal),
  };
}

/** Merge results of runs that happened at the same time (threads of one run, or several machines). */
export function mergeResults(results: BenchResult[]): BenchResult {
  if (results.length === 0) throw new UsageError('nothing to merge');
  for (const r of results) {
    if (r?.tool !== 'tcplens' || typeof r.histogram !== 'string') {
      throw new UsageError('bench merge takes files written by tcplens bench --json');
    }
  }
  const modes = new Set(results.map((r) => r.mode));
  if (modes.size > 1) throw new UsageError('cannot merge keep-alive and close runs: they measure different things');
  const latency = newHistogram();
  const connect = newHistogram();
  const tls = newHistogram();
  const statuses = new Float64Array(1000);
  const errors = new Map<string, ErrorCount>();
  const seconds = new Map<number, { requests: number; errors: number; h: hdr.Histogram }>();
  let ok = 0;
  let completed = 0;
  let failed = 0;
  let bytesRead = 0;
  let connectionsOpened = 0;
  for (const r of results) {
    addEncoded(latency, r.histogram);
    addEncoded(connect, r.connectHistogram);
    addEncoded(tls, r.tlsHistogram);
    for (const [code, n] of Object.entries(r.statuses)) statuses[Number(code)]! += n;
    for (const e of r.errorDetails) {
      const have = errors.get(e.code);
      if (have) have.count += e.count;
      else errors.set(e.code, { count: e.count, first: e.first });
    }
    ok += r.requests.ok;
    failed += r.requests.failed;
    completed += r.requests.total - r.requests.failed;
    bytesRead += r.bytes.read;
    connectionsOpened += r.connectionsOpened;
    r.timeline.forEach((point, i) => {
      const slot = seconds.get(point.t) ?? { requests: 0, errors: 0, h: newHistogram() };
      slot.requests += point.requests;
      slot.errors += point.errors;
      addEncoded(slot.h, r.timelineHistograms?.[i]);
      seconds.set(point.t, slot);
    });
  }
  const timeline: SecondSample[] = [...seconds]
    .sort((a, b) => a[0] - b[0])
    .map(([t, s]) => ({ t, requests: s.requests, errors: s.errors, histogram: hdr.encodeIntoCompressedBase64(s.h) }));
  const targets = [...new Set(results.map((r) => r.target))];
  const rates = results.map((r) => r.rate).filter((x): x is number => x !== undefined);
  const data: RunData = {
    target: targets.join(', '),
    mode: results[0]!.mode,
    method: results[0]!.method,
    connections: results.reduce((a, r) => a + r.connections, 0),
    pipelining: Math.max(...results.map((r) => r.pipelining)),
    workers: results.reduce((a, r) => a + r.workers, 0),
    rate: rates.length ? rates.reduce((a, b) => a + b, 0) : undefined,
    durationS: Math.max(...results.map((r) => r.durationS)),
    latency,
    connect,
    tls,
    tlsUsed: tls.totalCount > 0,
    statuses,
    errors,
    ok,
    completed,
    failed,
    bytesRead,
    connectionsOpened,
    timeline,
    kernel: mergeKernel(results.map((r) => r.kernel)),
    merged: results.reduce((a, r) => a + (r.merged ?? 1), 0),
  };
  const merged = summarize(data);
  // Decoded histograms know the max only to their precision; the runs knew it exactly.
  merged.latencyMs.max = Math.max(...results.map((r) => r.latencyMs.max));
  merged.latencyMs.min = Math.min(...results.filter((r) => r.requests.total > r.requests.failed).map((r) => r.latencyMs.min));
  return merged;
}
