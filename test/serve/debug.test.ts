import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { debugRoutes, parseProfileSeconds } from '../../src/serve/debug.ts';
import { isLoopbackAddress } from '../../src/text/loopback.ts';
import type { ConnectionInfo, ConnectionObserver, StateCounts } from '../../src/serve/conn-state.ts';
import { debugServer, get, getJson, until } from './debug-server.ts';

interface Conns {
  byState: StateCounts;
  connections: ConnectionInfo[];
}

const byPort = (c: Conns, port: number) => c.connections.find((x) => x.remotePort === port);

/** A request and response that never touch a socket, for what must not be sent over the network. */
function fakeExchange(remoteAddress: string, url: string, method = 'GET') {
  const req = { url, method, socket: { remoteAddress } } as unknown as IncomingMessage;
  const sent = { status: 0, headers: {} as Record<string, string>, body: '' };
  const fake = {
    get headersSent() {
      return sent.status !== 0;
    },
    writeHead(status: number, headers: Record<string, string>) {
      sent.status = status;
      sent.headers = headers;
      return fake;
    },
    end(body?: string) {
      sent.body = body ?? '';
      return fake;
    },
  };
  const res = fake as unknown as ServerResponse;
  return { req, res, sent };
}

const fakeObserver: ConnectionObserver = {
  counts: () => ({ new: 0, active: 1, idle: 0, hijacked: 0, closed: 7 }),
  connections: () => [],
  requestsTotal: () => 1,
  onStateChange: () => () => {},
  close: () => {},
};

test('/debug/conns shows a keep-alive connection active during a request and idle after, with its requests and bytes', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const s = await debugServer({
    app: (req, res) => {
      if (req.url === '/hold') void held.then(() => res.end('held\n'));
      else res.end('hello\n');
    },
  });
  // One agent for the application's traffic, one for the debug queries: two known connections.
  const app = new Agent({ keepAlive: true, maxSockets: 1 });
  const dbg = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get(s.port, '/', { agent: app });
    assert.equal(first.body, 'hello\n');

    const q1 = await getJson<Conns>(s.port, '/debug/conns', { agent: dbg });
    assert.equal(q1.status, 200);
    assert.match(String(q1.headers['content-type']), /^application\/json/);
    const idle = byPort(q1.json, first.localPort);
    assert.ok(idle, 'the application connection is listed');
    assert.equal(idle.state, 'idle');
    assert.equal(idle.requests, 1);
    assert.equal(idle.remoteAddress, '127.0.0.1');
    assert.ok(idle.bytesRead > 0, 'the request bytes were counted');
    assert.ok(idle.bytesWritten > 'hello\n'.length, 'the response bytes were counted');
    // The query's own connection is being served while it reads itself.
    assert.equal(byPort(q1.json, q1.localPort)?.state, 'active');
    assert.deepEqual(q1.json.byState, { new: 0, active: 1, idle: 1, hijacked: 0, closed: 0 });

    const pending = get(s.port, '/hold', { agent: app });
    // The request is in the server once the observer has seen it: wait for that, not a fixed time.
    await until(() => s.observer.requestsTotal() === 3, 'the held request to reach the server');
    const q2 = await getJson<Conns>(s.port, '/debug/conns', { agent: dbg });
    const busy = byPort(q2.json, first.localPort);
    assert.equal(busy?.state, 'active', 'the held request makes its connection active');
    assert.equal(busy?.requests, 2);
    assert.equal(q2.json.byState.active, 2);
    assert.equal(q2.json.byState.idle, 0);

    release();
    const second = await pending;
    assert.equal(second.localPort, first.localPort, 'keep-alive reused the connection');
    const q3 = await getJson<Conns>(s.port, '/debug/conns', { agent: dbg });
    const after = byPort(q3.json, first.localPort);
    assert.equal(after?.state, 'idle');
    assert.equal(after?.requests, 2);
    assert.ok(after.bytesWritten > idle.bytesWritten);
    assert.equal(q3.json.connections.length, 2);
  } finally {
    app.destroy();
    dbg.destroy();
    await s.close();
  }
});

test('/debug/conns counts a connection as closed once the client hangs up, and stops listing it', async () => {
  const s = await debugServer();
  const app = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r = await get(s.port, '/', { agent: app });
    const before = await getJson<Conns>(s.port, '/debug/conns');
    assert.equal(before.json.byState.closed, 0);
    assert.ok(byPort(before.json, r.localPort));

    app.destroy();
    // Idle were the application's connection and the first query's (Connection: close): both go.
    await until(() => s.observer.counts().idle === 0, 'both idle connections to close');

    const after = await getJson<Conns>(s.port, '/debug/conns');
    assert.equal(byPort(after.json, r.localPort), undefined);
    assert.deepEqual(after.json.byState, { new: 0, active: 1, idle: 0, hijacked: 0, closed: 2 });
    assert.equal(after.json.connections.length, 1, 'only the query itself is left');
  } finally {
    app.destroy();
    await s.close();
  }
});

test('/debug/conns answers 503 with a hint when the server has no observer', async () => {
  const s = await debugServer();
  try {
    s.observer.close(); // observerOf(server) now finds nothing
    const r = await getJson<{ error: string }>(s.port, '/debug/conns');
    assert.equal(r.status, 503);
    assert.match(r.json.error, /observeConnections/);
  } finally {
    await s.close();
  }
});

test('/debug/eventloop gives finite delay percentiles and utilization, and a 200 ms block shows in max', async () => {
  const s = await debugServer();
  try {
    interface Loop {
      windowMs: number;
      samples: number;
      delayMs: { p50: number; p90: number; p99: number; max: number; mean: number };
      utilization: { ratio: number; activeMs: number; idleMs: number };
    }
    const first = await getJson<Loop>(s.port, '/debug/eventloop');
    assert.equal(first.status, 200);
    for (const v of [
      ...Object.values(first.json.delayMs),
      ...Object.values(first.json.utilization),
      first.json.windowMs,
    ]) {
      assert.ok(Number.isFinite(v), `finite even before any sample: ${JSON.stringify(first.json)}`);
    }
    // At once after the call: a stall that starts right after a look must still be recorded.
    const start = performance.now();
    while (performance.now() - start < 200); // block the event loop on purpose

    await sleep(20); // let the monitor record the late iteration
    const second = await getJson<Loop>(s.port, '/debug/eventloop');
    const { delayMs, utilization, windowMs, samples } = second.json;
    for (const v of Object.values(delayMs)) assert.ok(Number.isFinite(v) && v >= 0);
    assert.ok(samples > 0);
    assert.ok(delayMs.max >= 150, `max ${delayMs.max} ms should show the 200 ms block`);
    assert.ok(delayMs.p50 <= delayMs.p90 && delayMs.p90 <= delayMs.p99 && delayMs.p99 <= delayMs.max);
    assert.ok(windowMs >= 200);
    // The block is active time whatever else the machine does (a busy machine stretches the idle
    // part of the window, not the block), and the ratio is active over the window.
    assert.ok(utilization.activeMs >= 150, `the 200 ms block is active time: ${JSON.stringify(utilization)}`);
    assert.ok(utilization.ratio > 0 && utilization.ratio <= 1);
    assert.ok(
      Math.abs(utilization.ratio - utilization.activeMs / (utilization.activeMs + utilization.idleMs)) < 0.01,
      JSON.stringify(utilization),
    );

    // Each call covers the time since the previous one, so the block is gone from the next.
    const third = await getJson<Loop>(s.port, '/debug/eventloop');
    assert.ok(
      third.json.delayMs.max < delayMs.max,
      `max ${third.json.delayMs.max} ms after the block, ${delayMs.max} ms with it`,
    );
  } finally {
    await s.close();
  }
});

test('/debug/handles counts active resources by type, listening and connected TCP sockets among them', async () => {
  const s = await debugServer();
  try {
    const r = await getJson<{ total: number; byType: Record<string, number> }>(s.port, '/debug/handles');
    assert.equal(r.status, 200);
    assert.ok((r.json.byType.TCPServerWrap ?? 0) >= 1, JSON.stringify(r.json));
    assert.ok((r.json.byType.TCPSocketWrap ?? 0) >= 2, 'both ends of the query connection live in this process');
    assert.equal(
      Object.values(r.json.byType).reduce((a, b) => a + b, 0),
      r.json.total,
    );
  } finally {
    await s.close();
  }
});

test('/debug/profile?seconds=1 returns a .cpuprofile attachment, and a second profile meanwhile gets 409', async () => {
  const s = await debugServer();
  try {
    const started = performance.now();
    const profile = getJson<{ nodes: unknown[]; samples: unknown[]; startTime: number; endTime: number }>(
      s.port,
      '/debug/profile?seconds=1',
    );
    await sleep(50);
    const busy = await getJson<{ error: string }>(s.port, '/debug/profile?seconds=1');
    assert.equal(busy.status, 409);

    const r = await profile;
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-disposition']), /^attachment; filename="tcplens-\d+-\w+\.cpuprofile"$/);
    assert.ok(Array.isArray(r.json.nodes) && r.json.nodes.length > 0);
    assert.ok(Array.isArray(r.json.samples));
    const tookMs = performance.now() - started;
    // One second, not the default five: the upper bound tells the two apart and leaves a busy
    // machine four seconds of slack.
    assert.ok(tookMs >= 950 && tookMs < 5000, `took ${tookMs} ms for one second`);
    // In microseconds: the profile covers the second asked for.
    assert.ok(r.json.endTime - r.json.startTime >= 900_000 && r.json.endTime - r.json.startTime < 5_000_000);
  } finally {
    await s.close();
  }
});

test('/debug/profile refuses a bad seconds value with 400 and a JSON error, before profiling', async () => {
  const s = await debugServer();
  try {
    for (const bad of ['abc', '0', '-1', '61', '1e3', '']) {
      const r = await getJson<{ error: string }>(s.port, `/debug/profile?seconds=${bad}`);
      assert.equal(r.status, 400, `seconds=${bad}`);
      assert.match(r.json.error, /seconds must be/);
    }
    assert.equal(parseProfileSeconds(null), 5);
    assert.equal(parseProfileSeconds('60'), 60);
    assert.equal(parseProfileSeconds('0.5'), 0.5);
  } finally {
    await s.close();
  }
});

test('HEAD /debug/profile and /debug/heap answer the headers without doing the work', async () => {
  const s = await debugServer();
  try {
    const started = performance.now();
    const p = await get(s.port, '/debug/profile?seconds=60', { method: 'HEAD' });
    assert.equal(p.status, 200);
    assert.match(String(p.headers['content-disposition']), /\.cpuprofile"$/);
    const h = await get(s.port, '/debug/heap', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.match(String(h.headers['content-disposition']), /\.heapsnapshot"$/);
    const headMs = performance.now() - started;
    // Compared with doing the work, measured here: a 60 s profile, and a heap snapshot taken now.
    const heapStarted = performance.now();
    const heap = await get(s.port, '/debug/heap');
    const heapMs = performance.now() - heapStarted;
    assert.equal(heap.status, 200);
    assert.ok(heap.body.length > 0);
    assert.ok(headMs < heapMs && headMs < 60_000, `HEAD ${headMs} ms, a heap snapshot ${heapMs} ms`);
  } finally {
    await s.close();
  }
});

test('/debug/heap streams a V8 heap snapshot as an attachment', async () => {
  const s = await debugServer();
  try {
    const r = await get(s.port, '/debug/heap');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-disposition']), /^attachment; filename="tcplens-\d+-\w+\.heapsnapshot"$/);
    assert.ok(r.body.startsWith('{"snapshot"'), r.body.slice(0, 40));
    const snap = JSON.parse(r.body) as { snapshot: { node_count: number }; nodes: number[] };
    assert.ok(snap.snapshot.node_count > 0);
    assert.ok(snap.nodes.length > 0);
  } finally {
    await s.close();
  }
});

test('/debug lists the endpoints, unknown ones get 404 JSON and other methods 405', async () => {
  const fake = {
    connected: 3,
    free: 1,
    pending: 0,
    queued: 0,
    running: 0,
    size: 0,
    queueWaitMs: { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 },
    retries: 0,
  };
  const s = await debugServer({ routes: { pools: () => ({ upstream: fake }) } });
  try {
    const index = await getJson<{ endpoints: { path: string; description: string }[] }>(s.port, '/debug');
    assert.equal(index.status, 200);
    assert.deepEqual(
      index.json.endpoints.map((e) => e.path),
      [
        '/debug/conns',
        '/debug/eventloop',
        '/debug/handles',
        '/debug/profile',
        '/debug/heap',
        '/debug/pools',
        '/metrics',
      ],
    );
    assert.equal((await get(s.port, '/debug/')).status, 200);

    const pools = await getJson(s.port, '/debug/pools');
    assert.deepEqual(pools.json, { upstream: fake });

    const missing = await getJson<{ error: string }>(s.port, '/debug/nope');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error, /\/debug\/nope/);

    const post = await get(s.port, '/debug/conns', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.match(JSON.parse(post.body).error, /GET or HEAD/);

    // Paths outside the prefix are the application's.
    assert.equal((await get(s.port, '/debugger')).body, 'hello\n');
    assert.equal((await get(s.port, '/')).body, 'hello\n');
  } finally {
    await s.close();
  }
});

test('without pools, /debug/pools is not an endpoint', async () => {
  const s = await debugServer();
  try {
    assert.equal((await get(s.port, '/debug/pools')).status, 404);
  } finally {
    await s.close();
  }
});

test('a custom prefix and metrics path move the endpoints', async () => {
  const s = await debugServer({ routes: { prefix: '/_diag/', metricsPath: '/_diag/prom' } });
  try {
    assert.equal((await get(s.port, '/_diag/handles')).status, 200);
    const m = await get(s.port, '/_diag/prom');
    assert.equal(m.status, 200);
    assert.match(m.body, /^tcplens_http_connections\{state="active"\} 1$/m);
    assert.equal((await get(s.port, '/debug/handles')).body, 'hello\n');
    assert.equal((await get(s.port, '/metrics')).body, 'hello\n');
  } finally {
    await s.close();
  }
});

test('a client that is not on loopback gets 403 unless allowRemote is set', async () => {
  const routes = debugRoutes({ observer: fakeObserver });
  const open = debugRoutes({ observer: fakeObserver, allowRemote: true });
  try {
    for (const path of ['/debug/conns', '/debug', '/debug/nope', '/metrics']) {
      const x = fakeExchange('10.1.2.3', path);
      assert.equal(routes(x.req, x.res), true);
      assert.equal(x.sent.status, 403, path);
      assert.match(JSON.parse(x.sent.body).error, /loopback/);
    }
    // Not ours: untouched, whoever asks.
    const other = fakeExchange('10.1.2.3', '/');
    assert.equal(routes(other.req, other.res), false);
    assert.equal(other.sent.status, 0);

    const allowed = fakeExchange('10.1.2.3', '/debug/conns');
    assert.equal(open(allowed.req, allowed.res), true);
    assert.equal(allowed.sent.status, 200);
    assert.equal(JSON.parse(allowed.sent.body).byState.closed, 7);

    for (const local of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) {
      const x = fakeExchange(local, '/debug/conns');
      routes(x.req, x.res);
      assert.equal(x.sent.status, 200, local);
    }
    for (const remote of ['10.1.2.3', '::ffff:10.1.2.3', '2001:db8::1', '128.0.0.1', 'fe80::1']) {
      assert.equal(isLoopbackAddress(remote), false, remote);
    }
  } finally {
    routes.close();
    open.close();
  }
});

test('close() cancels a running profile, which then answers 503, as does every later request', async () => {
  const s = await debugServer();
  try {
    const started = performance.now();
    const pending = getJson<{ error: string }>(s.port, '/debug/profile?seconds=30');
    await until(() => s.observer.counts().active === 1, 'the profile request to arrive');
    await sleep(50);
    s.routes.close();
    const r = await pending;
    assert.equal(r.status, 503);
    // Well before the 30 s asked for: the close ended the wait.
    assert.ok(performance.now() - started < 15_000);
    // Closed for good: nothing restarts (no new event-loop monitor, no new profile).
    assert.equal((await get(s.port, '/debug/eventloop')).status, 503);
  } finally {
    await s.close();
  }
});

test('a client that hangs up during a profile frees the profiler for the next one', async () => {
  const s = await debugServer();
  try {
    const req = request({ host: '127.0.0.1', port: s.port, path: '/debug/profile?seconds=30' });
    req.on('error', () => {});
    req.end();
    await until(() => s.observer.counts().active === 1, 'the profile request to arrive');
    await sleep(50);
    const closed = new Promise((r) => req.once('close', r));
    req.destroy();
    await closed;
    // The hang-up aborts the 30 s wait; a new profile then starts instead of getting 409.
    let status = 409;
    for (let i = 0; i < 50 && status === 409; i++) {
      status = (await get(s.port, '/debug/profile?seconds=0.1')).status;
      if (status === 409) await sleep(20);
    }
    assert.equal(status, 200);
  } finally {
    await s.close();
  }
});

test('a registered pool shows its stats at /debug/pools and in /metrics', async () => {
  const { createPool } = await import('../../src/pool/pool.ts');
  let pool: ReturnType<typeof createPool> | undefined;
  const s = await debugServer({ routes: { pools: () => ({ self: pool!.stats() }) } });
  try {
    pool = createPool(`http://127.0.0.1:${s.port}`, { connections: 2 });
    await Promise.all(Array.from({ length: 6 }, async () => (await pool!.request({ path: '/' })).body.text()));
    const pools = await getJson<{ self: { connected: number; queueWaitMs: { count: number } } }>(
      s.port,
      '/debug/pools',
    );
    assert.equal(pools.json.self.queueWaitMs.count, 6);
    assert.ok(pools.json.self.connected >= 1);
    const text = (await get(s.port, '/metrics')).body;
    assert.match(text, /tcplens_pool_connections\{pool="self",state="connected"\} [12]/);
    assert.match(text, /tcplens_pool_queue_wait_seconds\{pool="self",quantile="0.99"\} /);
  } finally {
    await pool?.close();
    await s.close();
  }
});
