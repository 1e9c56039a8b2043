// Generated hostile input against the dashboard: the upload scanner checked against JSON.parse, and
// requests of every shape against the server, which must answer 4xx (never 5xx) and stay up.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TooLargeError } from '../../src/errors.ts';
import { startDashboard, type DashboardHandle } from '../../src/observe/dashboard.ts';
import { createUploadScanner, type UploadLimits } from '../../src/observe/dashboard-upload.ts';
import type { BenchResult } from '../../src/model/bench-result.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { postBench, realRun } from './dashboard-helpers.ts';

const SET_ASIDE = new Set(['timelineHistograms', 'skip']);

interface Shape {
  depth: number;
  widestArray: number;
  widestObject: number;
  containers: number;
  values: number;
  names: number;
}

/** What the scanner should count in `value`, set-aside members' values excluded. */
function shapeOf(value: unknown): Shape {
  const s: Shape = { depth: 0, widestArray: 0, widestObject: 0, containers: 0, values: 0, names: 0 };
  const seen = new Set<string>();
  const walk = (x: unknown, depth: number) => {
    if (typeof x !== 'object' || x === null) return;
    s.containers++;
    s.depth = Math.max(s.depth, depth + 1);
    const entries = Array.isArray(x) ? x.map((e) => ['', e] as const) : Object.entries(x);
    if (Array.isArray(x)) s.widestArray = Math.max(s.widestArray, entries.length);
    else s.widestObject = Math.max(s.widestObject, entries.length);
    s.values += entries.length;
    if (!Array.isArray(x)) {
      for (const [k] of entries) {
        // As written by JSON.stringify; one over 64 bytes counts each time it appears.
        const raw = JSON.stringify(k).slice(1, -1);
        if (Buffer.byteLength(raw) > 64) s.names++;
        else if (!seen.has(raw)) seen.add(raw), s.names++;
      }
    }
    for (const [k, e] of entries) if (!(!Array.isArray(x) && SET_ASIDE.has(k))) walk(e, depth + 1);
  };
  walk(value, 0);
  return s;
}

function setAside(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(setAside);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SET_ASIDE.has(k) ? null : setAside(v)]));
}

const loose: UploadLimits = {
  maxBytes: 1 << 30,
  maxKeptBytes: 1 << 30,
  maxDepth: 1000,
  maxArrayEntries: 1e9,
  maxObjectMembers: 1e9,
  maxContainers: 1e9,
  maxValues: 1e9,
  maxNames: 1e9,
  setAside: SET_ASIDE,
};

/** Feed `text` to a scanner in pieces cut at `cuts` (fractions of its length). */
function scan(text: string, limits: UploadLimits, cuts: number[]): string {
  const bytes = Buffer.from(text);
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const scanner = createUploadScanner(limits);
  let from = 0;
  for (const to of [...at, bytes.length]) {
    scanner.write(bytes.subarray(from, to));
    from = to;
  }
  return scanner.end();
}

// Keys that are set aside sit among others; strings carry quotes, backslashes and non-ASCII.
const key = fc.oneof(
  fc.constantFrom('timelineHistograms', 'skip', 't', 'runs'),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);
const { value: jsonValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.constantFrom('"', '\\', '\\"', '"\\', '{[,:]}'),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
}));
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

describe('the upload scanner, against JSON.parse', () => {
  test('keeps every JSON text as it is, but for the set-aside values, wherever the pieces are cut', () => {
    fc.assert(
      fc.property(jsonValue, fc.constantFrom(undefined, 1, '\t'), cuts, (value, indent, at) => {
        const text = JSON.stringify(value, null, indent);
        const kept = scan(text, loose, at);
        assert.deepEqual(JSON.parse(kept), setAside(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
  });

  test('counts exactly: each limit set to what a text has passes, one below it is refused with TooLargeError', () => {
    fc.assert(
      fc.property(jsonValue, cuts, (value, at) => {
        const text = JSON.stringify(value);
        const s = shapeOf(value);
        const exact = {
          ...loose,
          maxDepth: s.depth,
          maxArrayEntries: s.widestArray,
          maxObjectMembers: s.widestObject,
          maxContainers: s.containers,
          maxValues: s.values,
          maxNames: s.names,
        };
        scan(text, exact, at);
        const tighter: [keyof UploadLimits, number][] = [
          ['maxDepth', s.depth],
          ['maxArrayEntries', s.widestArray],
          ['maxObjectMembers', s.widestObject],
          ['maxContainers', s.containers],
          ['maxValues', s.values],
          ['maxNames', s.names],
        ];
        for (const [name, n] of tighter) {
          if (n === 0) continue;
          assert.throws(
            () => scan(text, { ...exact, [name]: n - 1 }, at),
            TooLargeError,
            `${name} ${n - 1} for ${text}`,
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  test('any bytes at all: only TooLargeError, and whatever JSON.parse then accepts is within the limits', () => {
    const small: UploadLimits = {
      ...loose,
      maxKeptBytes: 200,
      maxDepth: 3,
      maxArrayEntries: 4,
      maxObjectMembers: 4,
      maxContainers: 6,
      maxValues: 12,
      maxNames: 5,
    };
    const pieces = fc.oneof(
      fc.constantFrom(
        '{',
        '}',
        '[',
        ']',
        ',',
        ':',
        '"',
        '\\',
        ' ',
        '1',
        'null',
        '"timelineHistograms"',
        '"skip":',
        '\\"',
      ),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 60 }), cuts, (parts, at) => {
        let kept: string;
        try {
          kept = scan(parts.join(''), small, at);
        } catch (err) {
          assert.ok(err instanceof TooLargeError, String(err));
          return;
        }
        assert.ok(Buffer.byteLength(kept) <= small.maxKeptBytes);
        let parsed: unknown;
        try {
          parsed = JSON.parse(kept);
        } catch {
          return; // refused later as "not JSON"
        }
        const s = shapeOf(parsed);
        assert.ok(
          s.depth <= small.maxDepth &&
            s.widestArray <= small.maxArrayEntries &&
            s.widestObject <= small.maxObjectMembers,
          kept,
        );
        assert.ok(
          s.containers <= small.maxContainers && s.values <= small.maxValues && s.names <= small.maxNames,
          kept,
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('a string of a million escapes costs one pass (an escape cut between two pieces included)', () => {
    const text = JSON.stringify({ skip: '\\"'.repeat(1 << 19), t: 'a\\"b' });
    const t0 = performance.now();
    const kept = scan(text, loose, [0.5, 0.5 + 1 / text.length]);
    const oneMs = performance.now() - t0;
    assert.deepEqual(JSON.parse(kept), { skip: null, t: 'a\\"b' });
    // Linear: twice the escapes take about twice as long, not four times. Each size is timed five
    // times, interleaved, and the fastest of each compared: one pass preempted or caught by a GC on
    // a busy machine says nothing about the scanner.
    const one = JSON.stringify({ skip: '\\"'.repeat(1 << 19) });
    const two = JSON.stringify({ skip: '\\"'.repeat(1 << 20) });
    const timed = (t: string) => {
      const start = performance.now();
      scan(t, loose, []);
      return performance.now() - start;
    };
    let oneBest = oneMs;
    let twoBest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      twoBest = Math.min(twoBest, timed(two));
      oneBest = Math.min(oneBest, timed(one));
    }
    assert.ok(
      twoBest < 3 * oneBest + 20,
      `fastest of five: ${oneBest.toFixed(1)} ms, then ${twoBest.toFixed(1)} ms for twice as many`,
    );
  });
});

describe('the dashboard under generated requests', () => {
  let dashboard: DashboardHandle;
  let run: BenchResult;

  before(async () => {
    [dashboard, run] = await Promise.all([startDashboard({ port: 0, intervalMs: 60_000 }), realRun()]);
  });
  after(() => dashboard?.close());

  test('any request line and headers: a 2xx, 3xx or 4xx, never a 5xx, and the server stays up', async () => {
    const host = `127.0.0.1:${dashboard.port}`;
    const method = fc.oneof(
      fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH'),
      fc.stringMatching(/^[A-Z]{1,8}$/),
    );
    const target = fc.oneof(
      fc.constantFrom(
        '/',
        '//',
        '//[',
        '/api/events',
        '/api/frame',
        '/api/findings',
        '/api/bench',
        '/../package.json',
        '/%2e%2e/',
        '*',
        'http://x/api/frame',
        '/index.html?x=1',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((s) => '/' + s.replace(/[\s]/g, '')),
      fc.webPath(),
    );
    // Mostly this server's own Host and no Origin, so that requests reach the routes behind the guard.
    const origin = fc.option(
      fc.oneof(
        fc.constantFrom(`http://${host}`, 'null', 'http://attacker.example', 'file://', `https://${host}`, 'x'),
        fc.webUrl(),
      ),
      { freq: 3 },
    );
    const hostHeader = fc.oneof(
      { arbitrary: fc.constant(host), weight: 6 },
      { arbitrary: fc.constantFrom(`localhost:${dashboard.port}`, 'attacker.example', '', '[::1]'), weight: 1 },
      { arbitrary: fc.domain(), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(method, target, origin, hostHeader, async (m, t, o, h) => {
        const headers = [`Host: ${h}`, 'Connection: close', ...(o === null ? [] : [`Origin: ${o}`])];
        const r = await rawExchange(dashboard.port, `${m} ${t} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 3000);
        // The event stream stays open (no close); anything else must be answered.
        if (t === '/api/events' && r.status === 200) return;
        assert.ok(r.status >= 200 && r.status < 500, `${m} ${t} Host ${h} Origin ${o}: ${r.raw.slice(0, 200)}`);
      }),
      {
        numRuns: 300,
        // Found by this test once (a 500 and a close without a word): kept as fixed cases.
        examples: [
          ['GET', '//', null, host],
          ['GET', '//[', null, host],
          ['CONNECT', '/', null, host],
        ],
      },
    );
    assert.equal(
      (await rawExchange(dashboard.port, `GET /api/frame HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`))
        .status,
      200,
    );
  });

  test('a real bench file with any field replaced by any JSON value: 200 or a 400 that names a field', async () => {
    const fields = Object.keys(run).filter((k) => k !== 'tool');
    const nested = [
      'requests.total',
      'latencyMs.p99',
      'timeline.0',
      'timeline.0.t',
      'timeline.0.p50Ms',
      'verdict.0',
      'verdict.0.text',
      'errors.x',
      'kernel',
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields, ...nested), jsonValue, async (path, value) => {
        const copy = structuredClone(run) as unknown as Record<string, unknown>;
        const steps = path.split('.');
        let at: Record<string, unknown> = copy;
        for (const s of steps.slice(0, -1)) {
          if (typeof at[s] !== 'object' || at[s] === null) at[s] = {};
          at = at[s] as Record<string, unknown>;
        }
        at[steps.at(-1)!] = value;
        const r = await postBench(dashboard.port, JSON.stringify(copy));
        assert.ok(
          r.status === 200 || r.status === 400,
          `${path} = ${JSON.stringify(value)}: ${r.status} ${r.body.slice(0, 200)}`,
        );
        if (r.status === 400)
          assert.match(
            (JSON.parse(r.body) as { error: string }).error,
            /malformed: .+: \S|not a tcplens bench result|cannot be decoded/,
          );
      }),
      { numRuns: 200 },
    );
  });

  test('a cross-origin page can neither read the live stream nor post a file; the page itself can', async () => {
    const host = `127.0.0.1:${dashboard.port}`;
    const events = (origin: string) =>
      rawExchange(dashboard.port, `GET /api/events HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\n\r\n`, 500);
    const foreign = await events('http://attacker.example');
    assert.equal(foreign.status, 403);
    assert.doesNotMatch(foreign.raw, /event: hello/);
    assert.equal((await events('null')).status, 403);
    const own = await events(`http://${host}`);
    assert.equal(own.status, 200);
    assert.match(own.raw, /event: hello/);
    assert.equal(
      (await postBench(dashboard.port, JSON.stringify(run), { origin: 'http://attacker.example' })).status,
      403,
    );
    assert.equal((await postBench(dashboard.port, JSON.stringify(run), { origin: `http://${host}` })).status, 200);
  });
});
