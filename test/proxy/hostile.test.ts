// Generated hostile input against the proxy: its parsers and its control API answer malformed
// input with a 4xx and never crash; every toxic that does not change data by design lets bytes
// through exactly, at any attributes; the largest accepted body costs bounded memory and time.
// Runs are few and bounded so that the file takes seconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { ApiError } from '../../src/proxy/api-error.ts';
import { parseProxyInput, createProxyServer } from '../../src/proxy/server.ts';
import { parseToxic, type ToxicEntry } from '../../src/proxy/toxic-set.ts';
import { toxicsOf } from '../../src/proxy/toxics/index.ts';
import { MAX_TIMER_MS, type Sink, type TcpToxic } from '../../src/proxy/toxics/toxic.ts';
import { collect, dial, echoServer } from './helpers.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const TYPES = [...toxicsOf('tcp'), ...toxicsOf('http')].map((t) => t.type);
const ATTRIBUTE_KEYS = [
  ...new Set([...toxicsOf('tcp'), ...toxicsOf('http')].flatMap((t) => Object.keys(t.attributes))),
];

/** Numbers at the edges of what Go, JSON and setTimeout hold. */
const edgeNumber = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  0.5,
  1e300,
  -1e300,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 63,
  3.5e38,
  -(2 ** 53),
  1e-300,
);
const anyNumber = fc.oneof(
  edgeNumber,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.maxSafeInteger(),
);
const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constant('x'.repeat(5000)),
  fc.constant('é'.repeat(513)),
);
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  anyNumber,
  anyString,
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
);

const attributes = fc.oneof(
  fc.dictionary(
    fc.oneof(fc.constantFrom(...ATTRIBUTE_KEYS, '__proto__', 'constructor'), fc.string({ maxLength: 8 })),
    fc.oneof(anyNumber, hostile),
    { maxKeys: 4 },
  ),
  hostile,
);
const toxicLike = fc.oneof(
  fc.record(
    {
      type: fc.oneof(fc.constantFrom(...TYPES, 'noop', 'LATENCY'), hostile),
      stream: fc.oneof(fc.constantFrom('upstream', 'downstream', 'UPSTREAM', ''), hostile),
      name: fc.oneof(anyString, hostile),
      toxicity: fc.oneof(anyNumber, hostile),
      attributes,
    },
    { requiredKeys: [] },
  ),
  hostile,
);

/** listen values that never bind a port someone else may need: port 0 on loopback, or no port at all. */
const safeListen = fc.oneof(
  fc.constantFrom(
    '127.0.0.1:0',
    'localhost:0',
    '[::1]:0',
    ':0',
    '',
    'nowhere',
    '127.0.0.1:99999',
    '[::1',
    '127.0.0.1:-1',
  ),
  fc.string({ maxLength: 30 }).filter((s) => !/:\s*\d{1,5}\s*$/.test(s)),
  fc.oneof(anyNumber, fc.boolean(), fc.constant(null)),
);
const proxyLike = fc.oneof(
  fc.record(
    {
      name: fc.oneof(anyString, hostile),
      listen: safeListen,
      upstream: fc.oneof(
        fc.constantFrom('127.0.0.1:9', '127.0.0.1', 'x', '127.0.0.1:0', '[::1]:9', '127.0.0.1:65536'),
        anyString,
        hostile,
      ),
      enabled: fc.oneof(fc.boolean(), hostile),
      mode: fc.oneof(fc.constantFrom('tcp', 'http', 'udp'), hostile),
      max_connections: fc.oneof(anyNumber, hostile),
      toxics: fc.oneof(fc.array(toxicLike, { maxLength: 3 }), hostile),
    },
    { requiredKeys: [] },
  ),
  hostile,
);

/** A parser either accepts or throws an ApiError with a 4xx: never another exception. */
function accepts(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    assert.ok(err instanceof ApiError, `not an ApiError: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.status >= 400 && err.status < 500, `${err.status} ${err.message}`);
    assert.ok(err.message.length < 300, `a message of bounded length: ${err.message.slice(0, 80)}…`);
    return false;
  }
}

test('generated toxic and proxy definitions are accepted or refused with a 4xx, and what is accepted is within what the code can carry out', () => {
  fc.assert(
    fc.property(fc.constantFrom('tcp' as const, 'http' as const), toxicLike, (mode, input) => {
      let entry: ToxicEntry | undefined;
      if (!accepts(() => (entry = parseToxic(mode, input)))) return;
      const e = entry!;
      assert.ok(Buffer.byteLength(e.name) <= 1024);
      for (const [key, spec] of Object.entries(e.definition.attributes)) {
        const v = e.effective[key]!;
        assert.ok(Number.isSafeInteger(Math.round(v)) && v >= 0, `${key} ${v}`);
        if (spec.unit === 'ms') assert.ok(v <= MAX_TIMER_MS, `${key} ${v} ms`);
        if (spec.unit === 'us') assert.ok(v / 1000 <= MAX_TIMER_MS, `${key} ${v} µs`);
      }
      assert.deepEqual(JSON.parse(JSON.stringify(e.toJSON())), e.toJSON(), 'what the API shows is JSON');
    }),
    { numRuns: 600 },
  );
  fc.assert(
    fc.property(proxyLike, (input) => {
      accepts(() => parseProxyInput(input));
    }),
    { numRuns: 600 },
  );
});

/** A sink that keeps what reaches it. */
function recorder(): Sink & { bytes(): Buffer; ended: boolean } {
  const parts: Buffer[] = [];
  const r = {
    ended: false,
    push: (c: Buffer) => void parts.push(Buffer.from(c)),
    end: () => void (r.ended = true),
    close: () => void (r.ended = true),
    bytes: () => Buffer.concat(parts),
  };
  return r;
}

// Toxics whose design keeps every byte: they delay, pace, cut or hold the close, never change data.
const KEEPING = ['latency', 'bandwidth', 'slicer', 'slow_close', 'noop'];

test('toxics that do not change data pass bytes exactly, in order, at any attributes (stages alone)', () => {
  const defs = toxicsOf('tcp').filter((t) => KEEPING.includes(t.type)) as TcpToxic[];
  assert.equal(defs.length, KEEPING.length);
  const anyInteger = fc.oneof(
    fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
    fc.integer({ min: -2000, max: 2000 }),
    fc.constantFrom(0, 1, 2 ** 31, 2 ** 53 - 1),
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...defs),
      fc.dictionary(fc.constantFrom(...ATTRIBUTE_KEYS), anyInteger, { maxKeys: 4 }),
      fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 4 }),
      (def, attrs, sizes) => {
        const entry = parseToxic('tcp', { type: def.type, attributes: attrs });
        const sink = recorder();
        const stage = def.createStage(entry.effective, { dropped: () => {}, reset: () => {} }, def.newState?.());
        stage.next = sink;
        const chunks = sizes.map((n) => randomBytes(n));
        for (const c of chunks) stage.push(c);
        stage.end();
        stage.interrupt(); // hands on everything held, in order
        stage.dispose();
        assert.ok(sink.bytes().equals(Buffer.concat(chunks)), `${def.type} ${JSON.stringify(entry.attributes)}`);
        assert.ok(sink.ended);
      },
    ),
    { numRuns: 300 },
  );
});

test('toxics that do not change data pass bytes exactly through a live proxy, both streams at once', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: false, proxies: [{ name: 'p', upstream: echo.address }] });
  const proxy = server.proxy('p')!;
  // Bounded so that a run takes milliseconds: small delays, fast rates, no µs delays on tiny pieces.
  const toxic = fc.oneof(
    fc.record({
      type: fc.constant('latency'),
      attributes: fc.record({ latency: fc.integer({ min: -1e9, max: 10 }), jitter: fc.integer({ min: -5, max: 10 }) }),
    }),
    fc.record({
      type: fc.constant('bandwidth'),
      attributes: fc.record({ rate: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: 20_000, max: 1e9 })) }),
    }),
    fc.record({
      type: fc.constant('slicer'),
      attributes: fc.record({
        average_size: fc.integer({ min: -10, max: 3000 }),
        size_variation: fc.integer({ min: -10, max: 100_000 }),
        delay: fc.constant(0),
      }),
    }),
    fc.record({
      type: fc.constant('slicer'),
      attributes: fc.record({
        average_size: fc.integer({ min: 4096, max: 20_000 }),
        size_variation: fc.integer({ min: 0, max: 100_000 }),
        delay: fc.integer({ min: -5, max: 100 }),
      }),
    }),
    fc.record({ type: fc.constant('slow_close'), attributes: fc.record({ delay: fc.integer({ min: -5, max: 10 }) }) }),
  );
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(toxic, fc.constantFrom('upstream', 'downstream')), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 64 * 1024 }),
        async (toxics, size) => {
          const names = toxics.map(([t, stream], i) => proxy.addToxic({ ...t, name: `t${i}`, stream } as never).name);
          try {
            const payload = randomBytes(size);
            const s = await dial(proxy.port);
            const got = collect(s, 10_000);
            s.end(payload);
            const r = await got;
            assert.equal(r.bytes.length, payload.length, `${JSON.stringify(toxics)}: ${r.how}`);
            assert.equal(sha(r.bytes), sha(payload));
          } finally {
            for (const n of names) proxy.removeToxic(n);
          }
        },
      ),
      { numRuns: 30 },
    );
  } finally {
    await server.close();
    await echo.close();
  }
});

const PATHS = [
  '/proxies',
  '/populate',
  '/reset',
  '/version',
  '/metrics',
  '/proxies/p',
  '/proxies/p/toxics',
  '/proxies/p/toxics/t',
  '/proxies/%zz',
  '/proxies/p/toxics/%',
  '//',
  '/proxies/p/toxics/t/extra',
  '/proxies/p/nothing',
  '/proxies/',
  '/proxies/p/toxics/',
];
const apiCall = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS'),
  path: fc.oneof(
    fc.constantFrom(...PATHS),
    fc
      .tuple(anyString, fc.option(anyString))
      .map(([p, t]) => `/proxies/${encodeURIComponent(p)}${t === null ? '' : `/toxics/${encodeURIComponent(t)}`}`),
  ),
  body: fc.oneof(
    proxyLike.map((v) => JSON.stringify(v)),
    toxicLike.map((v) => JSON.stringify(v)),
    fc.array(proxyLike, { maxLength: 3 }).map((v) => JSON.stringify(v)),
    fc.tuple(toxicLike, fc.nat()).map(([v, n]) => JSON.stringify(v).slice(0, n)),
    anyString,
    fc.constant(undefined),
  ),
});

test('generated API calls get a 4xx for bad input (500 only where Toxiproxy answers it: a listen address that cannot be bound), and the API keeps serving', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    await fc.assert(
      fc.asyncProperty(apiCall, async ({ method, path, body }) => {
        if (!server.proxy('p'))
          await server.addProxy({ name: 'p', upstream: echo.address, toxics: [{ name: 't', type: 'latency' }] });
        const res = await fetch(server.apiUrl + path, { method, body: method === 'GET' ? undefined : body });
        const text = await res.text();
        if (res.status >= 500) {
          assert.equal(res.status, 500, text);
          assert.match(String((JSON.parse(text) as { error: string }).error), /^listen tcp/, text);
        }
        if (res.headers.get('content-type')?.includes('json')) JSON.parse(text);
        // Keep the server small: only the fixture stays.
        for (const p of server.list()) if (p.name !== 'p') await server.removeProxy(p.name);
      }),
      { numRuns: 250 },
    );
    assert.equal((await fetch(`${server.apiUrl}/version`)).status, 200);
  } finally {
    await server.close();
    await echo.close();
  }
});

test('values Toxiproxy accepts are accepted and carried out as it does: a negative delay is none, toxicity above 1 is always, below 0 never', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0', proxies: [{ name: 'p', upstream: echo.address }] });
  const post = (body: unknown) =>
    fetch(`${server.apiUrl}/proxies/p/toxics`, { method: 'POST', body: JSON.stringify(body) });
  try {
    const negative = await post({ name: 'neg', type: 'latency', attributes: { latency: -1_000_000_000, jitter: -5 } });
    assert.equal(negative.status, 200);
    assert.deepEqual(
      ((await negative.json()) as { attributes: unknown }).attributes,
      { latency: -1_000_000_000, jitter: -5 },
      'shown as given',
    );
    assert.equal((await post({ name: 'never', type: 'timeout', toxicity: -3 })).status, 200);
    assert.equal(
      (await post({ name: 'always', type: 'slow_close', toxicity: 5, attributes: { delay: -1 } })).status,
      200,
    );
    const s = await dial(server.proxy('p')!.port);
    const got = collect(s, 5000);
    s.end('through');
    const r = await got;
    assert.deepEqual([r.bytes.toString(), r.how], ['through', 'end'], 'no delay, no timeout, no held close');
    // What cannot be held exactly is refused, naming the field.
    for (const [attributes, pattern] of [
      [
        { latency: 1e300 },
        /^bad request body: json: cannot unmarshal number 1e300 into Go struct field LatencyToxic\.attributes\.latency of type int64$/,
      ],
      [
        { latency: 2 ** 63 },
        /cannot unmarshal number 9223372036854776000 into Go struct field LatencyToxic\.attributes\.latency of type int64/,
      ],
      [{ latency: 2 ** 53 }, /attributes\.latency: 9007199254740992 is beyond/],
      [{ latency: 1.5 }, /cannot unmarshal number 1\.5 into Go struct field LatencyToxic\.attributes\.latency/],
    ] as const) {
      const bad = await post({ type: 'latency', name: 'big', attributes });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, pattern);
    }
    const toxicity = await post({ type: 'latency', name: 'big', toxicity: 1e300 });
    assert.equal(toxicity.status, 400);
  } finally {
    await server.close();
    await echo.close();
  }
});

test('the largest body the API accepts costs memory in proportion to it and the event loop no more than parsing it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0', proxies: [{ name: 'p', upstream: echo.address }] });
  // Just under 1 MiB: a toxic whose attributes carry tens of thousands of keys Toxiproxy ignores.
  const filler: Record<string, number> = {};
  for (let i = 0, length = 2; length < 1024 * 1024 - 100; i++) {
    filler[`k${i}`] = i;
    length += `"k${i}":${i},`.length;
  }
  const body = JSON.stringify({ type: 'latency', attributes: { ...filler, latency: 1 } });
  assert.ok(body.length < 1024 * 1024);
  const parseMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    parseToxic('tcp', JSON.parse(body));
    parseMs.push(performance.now() - t0);
  }
  const parseMaxMs = Math.max(...parseMs);
  const bodies = Array.from({ length: 20 }, (_, i) =>
    Buffer.from(body.replace('{"type":"latency"', `{"name":"t${i}","type":"latency"`)),
  );
  const delay = monitorEventLoopDelay({ resolution: 1 });
  try {
    gc();
    const before = process.memoryUsage().heapUsed;
    delay.enable();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.apiUrl}/proxies/p/toxics`, { method: 'POST', body: bodies[i] });
      assert.equal(res.status, 200);
      const shown = (await res.json()) as { attributes: Record<string, number> };
      assert.deepEqual(shown.attributes, { latency: 1, jitter: 0 }, 'unknown keys are not kept');
    }
    delay.disable();
    gc();
    const grownBytes = process.memoryUsage().heapUsed - before;
    assert.ok(
      grownBytes < 2 * body.length,
      `heap grew ${(grownBytes / 1e6).toFixed(1)} MB after 20 bodies of ${(body.length / 1e6).toFixed(1)} MB`,
    );
    const maxDelayMs = delay.max / 1e6;
    // Reading, concatenating and parsing a body is a few passes over it: far below 10 parses.
    assert.ok(
      maxDelayMs < 10 * parseMaxMs,
      `event loop held ${maxDelayMs.toFixed(1)} ms; one parse and check took up to ${parseMaxMs.toFixed(1)} ms`,
    );
  } finally {
    await server.close();
    await echo.close();
  }
});
