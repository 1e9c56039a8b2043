// The dashboard's bench viewer, server side: a `tcplens bench --json` file in, what the page draws
// out. The HDR histogram is decoded here so that the page does not carry a histogram library.

import { UsageError } from '../errors.ts';
import type { BenchResult } from '../model/bench-result.ts';
import { percentileCurve } from '../render/bench-html.ts';
import type { BenchRunView, BenchView } from './dashboard-protocol.ts';

function isRun(v: unknown): v is BenchResult {
  const r = v as Partial<BenchResult> | null;
  return (
    typeof r === 'object' && r !== null && r.tool === 'tcplens' &&
    typeof r.histogram === 'string' && Array.isArray(r.timeline) &&
    typeof r.latencyMs === 'object' && typeof r.requests === 'object'
  );
}

function view(r: BenchResult): BenchRunView {
  let curve: BenchRunView['curve'];
  try {
    curve = percentileCurve(r);
  } catch {
    throw new UsageError('the latency histogram in this file cannot be decoded (not HdrHistogram compressed base64)');
  }
  const name = r.merged ? `merged (${r.merged})` : r.mode === 'keepalive' ? 'keep-alive' : 'close';
  return {
    name,
    target: r.target,
    method: r.method,
    mode: r.mode,
    connections: r.connections,
    durationS: r.durationS,
    merged: r.merged,
    requests: r.requests,
    latencyMs: { p50: r.latencyMs.p50, p90: r.latencyMs.p90, p99: r.latencyMs.p99, p999: r.latencyMs.p999, max: r.latencyMs.max, mean: r.latencyMs.mean },
    connectionsOpened: r.connectionsOpened,
    errors: r.errors ?? {},
    timeWaitPeak: r.kernel ? r.kernel.timeWaitPeak : null,
    verdict: r.verdict ?? [],
    timeline: {
      t: r.timeline.map((p) => p.t),
      requests: r.timeline.map((p) => p.requests),
      errors: r.timeline.map((p) => p.errors),
      p50Ms: r.timeline.map((p) => p.p50Ms),
      p99Ms: r.timeline.map((p) => p.p99Ms),
      timeWait: r.timeline.map((p) => p.timeWait ?? null),
      ephemeralPorts: r.timeline.map((p) => p.ephemeralPorts ?? null),
    },
    curve,
  };
}

/** Parse a bench --json file (one run, `--compare`'s {runs}, or a `bench merge` result). */
export function benchView(text: string): BenchView {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('this file is not JSON: open a file written by tcplens bench --json');
  }
  const runs = (parsed as { runs?: unknown } | null)?.runs;
  const list = Array.isArray(runs) ? runs : [parsed];
  if (list.length === 0 || !list.every(isRun)) {
    throw new UsageError('this is not a tcplens bench result: open a file written by tcplens bench --json');
  }
  return { runs: list.map(view) };
}
