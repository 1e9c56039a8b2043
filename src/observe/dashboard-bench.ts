// The dashboard's bench viewer, server side: a `tcplens bench --json` file in, what the page draws
// out. The file comes from anyone who can reach the page, so each field the viewer reads is checked
// (bounded numbers, bounded strings, bounded lists) before use, and a wrong one is named. The HDR
// histogram is decoded here so that the page does not carry a histogram library.

import * as v from 'valibot';
import { inflateSync } from 'node:zlib';
import { UsageError } from '../errors.ts';
import { percentileCurve } from '../analyze/percentile-curve.ts';
import type { BenchResult, TimelinePoint } from '../model/bench-result.ts';
import type { BenchRunView, BenchView } from './dashboard-protocol.ts';
import type { UploadLimits } from './dashboard-upload.ts';

/** One timeline point a second: bench's longest timed run (-d 86400) has 86,400. */
export const MAX_TIMELINE_POINTS = 100_000;

/**
 * What an upload may be. bench --json writes one JSON string, and V8 holds no string over 2^29 - 24
 * characters: no file bench writes is larger than 512 MiB. Most of a long run's file is per-second
 * histograms, which the viewer does not draw: they are set aside while the file arrives, and what
 * is kept (a --compare of two longest runs, about 17 MiB) is what the other limits bound, each set
 * a little above what such a file has, so that the costliest file they let through costs about as
 * much as the largest real one.
 */
export const UPLOAD_LIMITS: UploadLimits = {
  maxBytes: 512 << 20,
  maxKeptBytes: 32 << 20,
  // A --compare file nests 5 deep (runs, a run, kernel, counters).
  maxDepth: 16,
  maxArrayEntries: MAX_TIMELINE_POINTS,
  // The widest real object is statuses, one member per status code seen (100-599 in practice);
  // JSON.parse slows down sharply on objects much wider than that.
  maxObjectMembers: 500,
  // Two runs of MAX_TIMELINE_POINTS points, 8 values each, and the rest.
  maxContainers: 2 * MAX_TIMELINE_POINTS + 10_000,
  maxValues: 2 * 8 * MAX_TIMELINE_POINTS + 100_000,
  // A run's field names, kernel counter names, status and error codes: hundreds.
  maxNames: 4_096,
  setAside: new Set(['timelineHistograms', 'connectHistogram', 'tlsHistogram']),
};

/** A histogram as bench writes it is a few KiB; the bounds keep a crafted one from costing more than a real one. */
const MAX_HISTOGRAM_CHARS = 1 << 20;
const MAX_HISTOGRAM_INFLATED_BYTES = 1 << 20;
const V2_COMPRESSED_COOKIE = 0x1c849304;
const V2_COOKIE = 0x1c849303;

const count = v.pipe(v.number(), v.finite(), v.minValue(0));
const text = (max: number) => v.pipe(v.string(), v.maxLength(max));

const TIMELINE_FIELDS = ['t', 'requests', 'errors', 'p50Ms', 'p99Ms'] as const;
const TIMELINE_OPTIONAL = ['timeWait', 'ephemeralPorts'] as const;

const got = (x: unknown) =>
  x === null ? 'null' : Array.isArray(x) ? 'Array' : typeof x === 'number' ? String(x) : typeof x;

/**
 * A timeline's points, checked by a plain loop rather than the schema: a long run has hundreds of
 * thousands, and this is the one part of the file whose checking cost shows.
 */
const timeline = v.pipe(
  v.array(v.unknown()),
  v.maxLength(MAX_TIMELINE_POINTS),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const points = dataset.value;
    for (let i = 0; i < points.length; i++) {
      const p = points[i] as Record<string, unknown> | null;
      if (typeof p !== 'object' || p === null || Array.isArray(p)) {
        addIssue({ message: `[${i}]: expected an object, got ${got(p)}` });
        return;
      }
      for (const f of TIMELINE_FIELDS) {
        const x = p[f];
        if (typeof x !== 'number' || !Number.isFinite(x) || (f !== 't' && x < 0)) {
          addIssue({
            message: `[${i}].${f}: expected a ${f === 't' ? 'finite number' : 'number >= 0'}, got ${got(x)}`,
          });
          return;
        }
      }
      for (const f of TIMELINE_OPTIONAL) {
        const x = p[f];
        if (x !== undefined && (typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
          addIssue({ message: `[${i}].${f}: expected a number >= 0, got ${got(x)}` });
          return;
        }
      }
    }
  }),
);

/** The fields of a run the viewer reads; others are let through unread. */
const run = v.looseObject({
  tool: v.literal('tcplens'),
  target: text(4096),
  method: text(64),
  mode: v.picklist(['keepalive', 'close']),
  connections: count,
  durationS: count,
  merged: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  requests: v.looseObject({ total: count, ok: count, failed: count, perSecond: count }),
  latencyMs: v.looseObject({ p50: count, p90: count, p99: count, p999: count, max: count, mean: count }),
  connectionsOpened: count,
  errors: v.optional(v.record(text(200), count)),
  kernel: v.optional(v.looseObject({ timeWaitPeak: count })),
  verdict: v.optional(v.pipe(v.array(v.looseObject({ severity: text(32), text: text(4096) })), v.maxLength(100))),
  timeline,
  histogram: text(MAX_HISTOGRAM_CHARS),
});

type Run = v.InferOutput<typeof run>;

const runs = v.pipe(v.array(run), v.minLength(1), v.maxLength(8));

const article = (name: string) => (/^[aeiou]/i.test(name) ? `an ${name}` : `a ${name}`);

/** One issue as `timeline[0]: expected an object, got null`. */
function describe(issue: v.BaseIssue<unknown>, prefix: string): string {
  let at = prefix;
  for (const step of issue.path ?? []) {
    const key = (step as { key: unknown }).key;
    if (typeof key === 'number') at += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(key)) at += `${at ? '.' : ''}${key}`;
    // A key from the file that is no plain name (or a long one): quoted, and cut.
    else at += `[${JSON.stringify(String(key).slice(0, 64))}]`;
  }
  let what: string;
  switch (issue.type) {
    case 'raw_check':
      // The message starts with the place inside the value: "[3].p50Ms: expected ...".
      return `${at || 'the file'}${issue.message}`;
    case 'object':
    case 'loose_object':
      what = `expected an object, got ${issue.received}`;
      break;
    case 'array':
    case 'number':
    case 'string':
      what = `expected ${article(issue.type)}, got ${issue.received}`;
      break;
    case 'finite':
      what = `expected a finite number, got ${issue.received}`;
      break;
    case 'integer':
      what = `expected an integer, got ${issue.received}`;
      break;
    case 'min_value':
      what = `expected a number ${issue.expected}, got ${issue.received}`;
      break;
    case 'max_length':
    case 'min_length':
      what = `expected a length ${issue.expected}, got ${issue.received}`;
      break;
    default:
      what = `expected ${issue.expected}, got ${issue.received}`;
  }
  return `${at || 'the file'}: ${what}`;
}

function check<T extends v.GenericSchema>(schema: T, value: unknown, prefix: string): v.InferOutput<T> {
  // abortEarly: a file with a million wrong points costs one issue, not a million.
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (!result.success) throw new UsageError(`this bench file is malformed: ${describe(result.issues[0], prefix)}`);
  return result.output;
}

/** Refuse a histogram whose decoding would cost more than a real one's: inflated size and precision. */
function checkHistogram(encoded: string, field: string): void {
  const bad = (why: string) => new UsageError(`this bench file is malformed: ${field}: ${why}`);
  const bytes = Buffer.from(encoded.trim(), 'base64');
  if (bytes.length < 8 || (bytes.readInt32BE(0) & ~0xf0) !== V2_COMPRESSED_COOKIE)
    throw bad('not an HdrHistogram (compressed base64)');
  let inflated: Buffer;
  try {
    inflated = inflateSync(bytes.subarray(8, 8 + bytes.readInt32BE(4)), {
      maxOutputLength: MAX_HISTOGRAM_INFLATED_BYTES,
    });
  } catch {
    throw bad(`not an HdrHistogram, or one over ${MAX_HISTOGRAM_INFLATED_BYTES >> 20} MiB once inflated`);
  }
  if (inflated.length < 40 || (inflated.readInt32BE(0) & ~0xf0) !== V2_COOKIE)
    throw bad('not an HdrHistogram (compressed base64)');
  const digits = inflated.readInt32BE(12);
  const lowest = Number(inflated.readBigInt64BE(16));
  const highest = Number(inflated.readBigInt64BE(24));
  // bench records 1 µs to an hour at 3 significant digits; more digits or range grows the counts array.
  if (!(digits >= 1 && digits <= 3)) throw bad(`precision of ${digits} significant digits: bench writes 3`);
  if (!(lowest >= 1 && highest >= 2 * lowest && highest <= Number.MAX_SAFE_INTEGER))
    throw bad(`range ${lowest} to ${highest}: bench writes 1 to 3600000000 µs`);
}

/** The timeline as the charts take it: one array per series, in one pass. */
function columns(points: TimelinePoint[]): BenchRunView['timeline'] {
  const n = points.length;
  const c: BenchRunView['timeline'] = {
    t: new Array<number>(n),
    requests: new Array<number>(n),
    errors: new Array<number>(n),
    p50Ms: new Array<number>(n),
    p99Ms: new Array<number>(n),
    timeWait: new Array<number | null>(n),
    ephemeralPorts: new Array<number | null>(n),
  };
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    c.t[i] = p.t;
    c.requests[i] = p.requests;
    c.errors[i] = p.errors;
    c.p50Ms[i] = p.p50Ms;
    c.p99Ms[i] = p.p99Ms;
    c.timeWait[i] = p.timeWait ?? null;
    c.ephemeralPorts[i] = p.ephemeralPorts ?? null;
  }
  return c;
}

function view(r: Run, at: string): BenchRunView {
  checkHistogram(r.histogram, `${at}histogram`);
  let curve: BenchRunView['curve'];
  try {
    curve = percentileCurve(r as unknown as BenchResult);
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
    requests: {
      total: r.requests.total,
      ok: r.requests.ok,
      failed: r.requests.failed,
      perSecond: r.requests.perSecond,
    },
    latencyMs: {
      p50: r.latencyMs.p50,
      p90: r.latencyMs.p90,
      p99: r.latencyMs.p99,
      p999: r.latencyMs.p999,
      max: r.latencyMs.max,
      mean: r.latencyMs.mean,
    },
    connectionsOpened: r.connectionsOpened,
    errors: r.errors ?? {},
    timeWaitPeak: r.kernel ? r.kernel.timeWaitPeak : null,
    verdict: (r.verdict ?? []).map((x) => ({ severity: x.severity, text: x.text })),
    timeline: columns(r.timeline as TimelinePoint[]),
    curve,
  };
}

const NOT_BENCH = 'this is not a tcplens bench result: open a file written by tcplens bench --json';

/** Parse a bench --json file (one run, `--compare`'s {runs}, or a `bench merge` result). */
export function benchView(text: string): BenchView {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('this file is not JSON: open a file written by tcplens bench --json');
  }
  const isObject = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(parsed)) throw new UsageError(NOT_BENCH);
  if (Array.isArray(parsed.runs)) {
    // Say "not a bench result" for a file of something else, and name the field for a broken one.
    if (!parsed.runs.some((x) => isObject(x) && x.tool === 'tcplens')) throw new UsageError(NOT_BENCH);
    return { runs: check(runs, parsed.runs, 'runs').map((r, i) => view(r, `runs[${i}].`)) };
  }
  if (parsed.tool !== 'tcplens') throw new UsageError(NOT_BENCH);
  return { runs: [view(check(run, parsed, ''), '')] };
}
