// Adds up results exactly: histograms merged (never percentiles averaged), counts summed. Serves
// both worker threads of one run and `bench merge` of runs made at the same time on many machines.

import * as hdr from 'hdr-histogram-js';
import { UsageError } from '../errors.ts';
import type { BenchResult, KernelFootprint, TimeWaitReuse } from '../model/bench-result.ts';
import { newHistogram } from '../text/histogram.ts';
import type { ErrorCount, SecondSample } from './recorder.ts';
import { clampPercentiles, type RunData, summarize } from './summarize.ts';

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
  // The reuse knobs stand for all only when every machine had the same.
  const reuse = [...new Set(ks.map((k) => JSON.stringify(k.timeWaitReuse ?? null)))];
  const merged: KernelFootprint = {
    timeWaitPeak: sum((k) => k.timeWaitPeak),
    timeWaitPeakClientSide: sum((k) => k.timeWaitPeakClientSide),
    timeWaitPeakServerSide: sum((k) => k.timeWaitPeakServerSide),
    timeWaitAtStart: sum((k) => k.timeWaitAtStart ?? 0),
    timeWaitAtStartClientSide: sum((k) => k.timeWaitAtStartClientSide ?? 0),
    timeWaitAtStartServerSide: sum((k) => k.timeWaitAtStartServerSide ?? 0),
    // Results from older versions have only the peaks: their own share is the peak above the start.
    timeWaitAdded: sum((k) => k.timeWaitAdded ?? Math.max(0, k.timeWaitPeak - (k.timeWaitAtStart ?? 0))),
    timeWaitAddedClientSide: sum(
      (k) => k.timeWaitAddedClientSide ?? Math.max(0, k.timeWaitPeakClientSide - (k.timeWaitAtStartClientSide ?? 0)),
    ),
    timeWaitAddedServerSide: sum(
      (k) => k.timeWaitAddedServerSide ?? Math.max(0, k.timeWaitPeakServerSide - (k.timeWaitAtStartServerSide ?? 0)),
    ),
    ephemeralPortsPeak: Math.max(...ks.map((k) => k.ephemeralPortsPeak)),
    ephemeralPortsUsable: Math.min(...ks.map((k) => k.ephemeralPortsUsable)),
    samples: sum((k) => k.samples),
    counters,
    targetIsLocal: ks.every((k) => k.targetIsLocal),
  };
  if (reuse.length === 1 && reuse[0] !== 'null') merged.timeWaitReuse = JSON.parse(reuse[0]!) as TimeWaitReuse;
  // Some parts ran without a kernel section (--no-kernel, not Linux): the sums are theirs alone.
  const partsWith = ks.reduce((a, k) => a + (k.fromParts?.with ?? 1), 0);
  const partsOf = parts.reduce((a, k) => a + (k?.fromParts?.of ?? 1), 0);
  if (partsWith < partsOf) merged.fromParts = { with: partsWith, of: partsOf };
  return merged;
}

function nameOf(names: readonly string[] | undefined, i: number): string {
  return names?.[i] ?? `input ${i + 1}`;
}

/**
 * Merge results of runs that happened at the same time (threads of one run, or several machines).
 * `names` (the files, for `bench merge`) turns on the checks that only files need: the same run
 * given twice would be counted twice, so it is refused; and errors name the file.
 */
export function mergeResults(results: BenchResult[], names?: readonly string[]): BenchResult {
  if (results.length === 0) throw new UsageError('nothing to merge');
  results.forEach((r, i) => {
    const runs = (r as unknown as { runs?: unknown })?.runs;
    if (Array.isArray(runs)) {
      const modes = runs.map((x) => ((x as BenchResult)?.mode === 'close' ? 'close' : 'keep-alive')).join(', ');
      throw new UsageError(
        `${nameOf(names, i)} holds the ${runs.length} runs of bench --compare (${modes}), made one after the other: ` +
          `merge adds up runs made at the same time, one file per machine — write them with bench --json without --compare, ` +
          `or take one mode out with jq '.runs[0]' ${names?.[i] ?? 'FILE'}`,
      );
    }
    if (r?.tool !== 'tcplens' || typeof r.histogram !== 'string') {
      throw new UsageError(
        `${names ? `${nameOf(names, i)}: ` : ''}bench merge takes files written by tcplens bench --json`,
      );
    }
  });
  if (names) {
    const seen = new Map<string, number>();
    results.forEach((r, i) => {
      const key = JSON.stringify(r);
      const j = seen.get(key);
      if (j !== undefined) {
        throw new UsageError(
          names[i] === names[j]
            ? `${names[i]} is given twice: its requests would be counted twice`
            : `${names[j]} and ${names[i]} hold the same run: its requests would be counted twice`,
        );
      }
      seen.set(key, i);
    });
  }
  const modes = new Set(results.map((r) => r.mode));
  if (modes.size > 1) throw new UsageError('cannot merge keep-alive and close runs: they measure different things');
  if (names) {
    // Machines loading one target at the same time add up; different targets, or a fixed rate with a closed loop, do not.
    const targets = [...new Set(results.map((r) => r.target))];
    if (targets.length > 1)
      throw new UsageError(
        `cannot merge runs against different targets (${targets.join(', ')}): merge adds up machines loading one target`,
      );
    const withRate = results.filter((r) => r.rate !== undefined).length;
    if (withRate > 0 && withRate < results.length) {
      throw new UsageError(
        'cannot merge runs with -R (open model) and without it: their latencies are measured from different moments',
      );
    }
  }
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
  let connectErrors: number | undefined;
  let connectionsFromWarmup: number | undefined;
  for (const r of results) {
    if (r.connectErrors !== undefined) connectErrors = (connectErrors ?? 0) + r.connectErrors;
    if (r.connectionsFromWarmup !== undefined)
      connectionsFromWarmup = (connectionsFromWarmup ?? 0) + r.connectionsFromWarmup;
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
  // A warm-up is worth saying only when every run had the same.
  const warmups = [...new Set(results.map((r) => r.warmupS))];
  const data: RunData = {
    target: targets.join(', '),
    mode: results[0]!.mode,
    method: results[0]!.method,
    connections: results.reduce((a, r) => a + r.connections, 0),
    pipelining: Math.max(...results.map((r) => r.pipelining)),
    workers: results.reduce((a, r) => a + r.workers, 0),
    rate: rates.length ? rates.reduce((a, b) => a + b, 0) : undefined,
    durationS: Math.max(...results.map((r) => r.durationS)),
    warmupS: warmups.length === 1 ? warmups[0] : undefined,
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
    connectErrors,
    connectionsFromWarmup,
    timeline,
    kernel: mergeKernel(results.map((r) => r.kernel)),
    merged: results.reduce((a, r) => a + (r.merged ?? 1), 0),
  };
  const merged = summarize(data);
  // One part cut short makes the sum partial too.
  if (results.some((r) => r.interrupted)) merged.interrupted = true;
  if (results.some((r) => r.gaveUp)) merged.gaveUp = true;
  // Decoded histograms know the max only to their precision; the runs knew it exactly.
  const answered = results.filter((r) => r.requests.total > r.requests.failed);
  if (answered.length) {
    merged.latencyMs = clampPercentiles({
      ...merged.latencyMs,
      max: Math.max(...answered.map((r) => r.latencyMs.max)),
      min: Math.min(...answered.map((r) => r.latencyMs.min)),
    });
  }
  return merged;
}
