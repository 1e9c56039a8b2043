// HTTP mode: faults per request through keep-alive connections, measured with real HTTP clients
// (undici) and raw sockets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, dial } from './helpers.ts';

interface Origin {
  address: string;
  /** Requests the origin served. */
  count(): number;
  /** ms timestamps (performance.now) of each request's arrival. */
  arrivals: number[];
  close(): Promise<void>;
}

/** An HTTP origin; each response says which upstream connection carried it (x-conn). */
async function origin(handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Origin> {
  let n = 0;
  const arrivals: number[] = [];
  const ids = new WeakMap<object, number>();
  let nextId = 0;
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    n++;
    arrivals.push(performance.now());
    if (!ids.has(req.socket)) ids.set(req.socket, ++nextId);
    res.setHeader('x-conn', String(ids.get(req.socket)));
    if (handler) return handler(req, res);
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => res.end(`${req.method} ${req.url} ${size}\n`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    count: () => n,
    arrivals,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function drive(
  pool: Pool,
  requests: number,
  workers: number,
  onResponse: (status: number, ms: number, conn: string | undefined, body: string) => void,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < requests) {
        next++;
        const start = performance.now();
        const r = await pool.request({ path: `/r${next}`, method: 'GET' });
        const body = await r.body.text();
        onResponse(r.statusCode, performance.now() - start, r.headers['x-conn'] as string | undefined, body);
      }
    }),
  );
}

test('HTTP mode: status 503 at toxicity 0.05 over 2,000 keep-alive requests hits 5% ± 2% of them, and the connections stay open', async () => {
  const up = await origin();
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ type: 'status', toxicity: 0.05, attributes: { code: 503 } }],
      },
    ],
  });
  const pool = new Pool(`http://${px.proxy('h')!.listen}`, { connections: 8, pipelining: 1 });
  try {
    let injected = 0;
    let ok = 0;
    await drive(pool, 2000, 8, (status, _ms, _conn, body) => {
      if (status === 503) {
        injected++;
        assert.match(body, /injected by tcplens proxy/);
      } else if (status === 200) ok++;
    });
    assert.equal(injected + ok, 2000);
    assert.ok(injected >= 60 && injected <= 140, `${injected} of 2000 requests got the injected 503 (want 100 ± 40)`);
    assert.equal(up.count(), ok, 'injected requests never reached the origin');
    const stats = px.proxy('h')!.stats();
    assert.equal(stats.requestsTotal, 2000);
    assert.equal(stats.toxics[0]!.requestsAffected, injected);
    assert.ok(stats.connectionsTotal <= 8, `${stats.connectionsTotal} connections for 2000 requests: keep-alive kept`);
  } finally {
    await pool.close();
    await px.close();
    await up.close();
  }
});

test('HTTP mode: latency with toxicity 0.1 delays single requests on connections that also serve fast ones', async () => {
  const up = await origin();
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ type: 'latency', toxicity: 0.1, attributes: { latency: 120, jitter: 10 } }],
      },
    ],
  });
  const pool = new Pool(`http://${px.proxy('h')!.listen}`, { connections: 4, pipelining: 1 });
  try {
    const byConn = new Map<string, { slow: number; fast: number }>();
    let slow = 0;
    await drive(pool, 300, 4, (status, ms, conn) => {
      assert.equal(status, 200);
      const c = byConn.get(conn!) ?? { slow: 0, fast: 0 };
      // Delayed ones take at least 110 ms; undelayed ones hardly ever do, even on a busy machine.
      if (ms >= 109) {
        c.slow++;
        slow++;
      } else if (ms < 60) c.fast++;
      byConn.set(conn!, c);
    });
    const affected = px.proxy('h')!.stats().toxics[0]!.requestsAffected;
    assert.ok(affected >= 10 && affected <= 50, `${affected} of 300 requests picked at toxicity 0.1`);
    assert.ok(Math.abs(slow - affected) <= 3, `${slow} slow requests measured, ${affected} picked`);
    const mixed = [...byConn.values()].filter((c) => c.slow > 0 && c.fast > 0).length;
    assert.ok(mixed >= 2, `connections with both slow and fast requests: ${JSON.stringify([...byConn.values()])}`);
  } finally {
    await pool.close();
    await px.close();
    await up.close();
  }
});

test('HTTP mode: 429 with Retry-After answered by the proxy keeps the connection for the next request', async () => {
  const up = await origin();
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ name: 'busy', type: 'status', attributes: { code: 429, retry_after: 2 } }],
      },
    ],
  });
  const pool = new Pool(`http://${px.proxy('h')!.listen}`, { connections: 1 });
  try {
    const first = await pool.request({ path: '/a', method: 'GET' });
    assert.equal(first.statusCode, 429);
    assert.equal(first.headers['retry-after'], '2');
    await first.body.text();
    // A POST's body is read and dropped, so that the connection stays in step.
    const post = await pool.request({ path: '/p', method: 'POST', body: 'x'.repeat(10_000) });
    assert.equal(post.statusCode, 429);
    await post.body.text();
    px.proxy('h')!.updateToxic('busy', { toxicity: 0 });
    const second = await pool.request({ path: '/b', method: 'POST', body: 'hello' });
    assert.equal(second.statusCode, 200);
    assert.equal(await second.body.text(), 'POST /b 5\n');
    assert.equal(up.count(), 1, 'only the last request reached the origin');
    assert.equal(px.proxy('h')!.stats().connectionsTotal, 1, 'one connection throughout');
    // undici asks for Connection: close on HEAD; the answer says so and carries no body.
    px.proxy('h')!.updateToxic('busy', { toxicity: 1 });
    const head = await pool.request({ path: '/a', method: 'HEAD' });
    assert.equal(head.statusCode, 429);
    assert.equal(await head.body.text(), '');
  } finally {
    await pool.close();
    await px.close();
    await up.close();
  }
});

test('HTTP mode: reset_body cuts the response after the head and exactly N body bytes with an RST', async () => {
  const body = Buffer.alloc(100_000, 'b');
  const up = await origin((_req, res) => res.end(body));
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ type: 'reset_body', attributes: { body_bytes: 1000 } }],
      },
    ],
  });
  try {
    const s = await dial(px.proxy('h')!.port);
    const got = collect(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await got;
    assert.equal(r.how, 'ECONNRESET');
    const text = r.bytes.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n') + 4;
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /content-length: 100000\r\n/i);
    assert.equal(r.bytes.length - headEnd, 1000, 'body bytes before the reset');
    // And what an HTTP client makes of it.
    const pool = new Pool(`http://${px.proxy('h')!.listen}`, { connections: 1 });
    try {
      await assert.rejects(async () => {
        const res = await pool.request({ path: '/', method: 'GET' });
        await res.body.text();
      }, /ECONNRESET|other side closed|terminated/);
    } finally {
      await pool.close();
    }
  } finally {
    await px.close();
    await up.close();
  }
});

test('HTTP mode: a stalled response never comes, and the connection closes after the stall timeout (0: stays open)', async () => {
  const up = await origin();
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ name: 'hang', type: 'stall', attributes: { timeout: 300 } }],
      },
    ],
  });
  try {
    const s = await dial(px.proxy('h')!.port);
    const got = collect(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await got;
    assert.equal(r.bytes.length, 0);
    assert.equal(r.how, 'end');
    assert.ok(r.elapsedMs >= 295 && r.elapsedMs < 600, `closed after ${r.elapsedMs.toFixed(0)} ms`);
    assert.equal(up.count(), 1, 'the request reached the origin; its answer was withheld');

    px.proxy('h')!.updateToxic('hang', { attributes: { timeout: 0 } });
    const s2 = await dial(px.proxy('h')!.port);
    const got2 = collect(s2, 500);
    s2.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual([(await got2).how, (await got2).bytes.length], ['open', 0]);
    s2.destroy();
  } finally {
    await px.close();
    await up.close();
  }
});

test('HTTP mode: upstream latency holds the request itself; pipelined requests (chunked POST, HEAD, GET) keep their order', async () => {
  const up = await origin();
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: up.address,
        mode: 'http',
        toxics: [{ type: 'latency', stream: 'upstream', attributes: { latency: 80 } }],
      },
    ],
  });
  try {
    const s = await dial(px.proxy('h')!.port);
    const got = collect(s, 3000);
    const sent = performance.now();
    s.write(
      'POST /one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n' +
        'HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const r = await got;
    assert.equal(r.how, 'end');
    const text = r.bytes.toString('latin1');
    const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '200']);
    assert.ok(text.indexOf('POST /one 11') < text.indexOf('GET /three 0'), 'in order');
    assert.equal(up.arrivals.length, 3);
    // One request at a time, each held 80 ms before it goes upstream.
    assert.ok(
      up.arrivals[0]! - sent >= 79,
      `first request reached the origin after ${(up.arrivals[0]! - sent).toFixed(0)} ms`,
    );
    assert.ok(up.arrivals[2]! - sent >= 3 * 79, `third after ${(up.arrivals[2]! - sent).toFixed(0)} ms`);
  } finally {
    await px.close();
    await up.close();
  }
});

test('HTTP mode: a 101 upgrade turns the connection into a plain tunnel', async () => {
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const px = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        upstream: `127.0.0.1:${port}`,
        mode: 'http',
        toxics: [{ type: 'status', toxicity: 0, attributes: {} }],
      },
    ],
  });
  try {
    const s = await dial(px.proxy('h')!.port);
    s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    const [head] = (await once(s, 'data')) as [Buffer];
    assert.match(head.toString(), /^HTTP\/1\.1 101 /);
    s.write('GET not http at all\r\n\r\n');
    const [echoed] = (await once(s, 'data')) as [Buffer];
    assert.equal(echoed.toString(), 'GET not http at all\r\n\r\n');
    s.destroy();
  } finally {
    await px.close();
    server.closeAllConnections();
    server.close();
  }
});

test('HTTP mode: reset_body at its edges: 0 bytes (the head, then RST), a HEAD answer (never whole), a body shorter than N (all but its last byte), two cuts (the stricter)', async () => {
  const up = await origin((req, res) => {
    res.setHeader('content-length', req.url === '/short' ? 10 : 2000);
    res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(req.url === '/short' ? 10 : 2000, 'b'));
  });
  const cases: {
    toxics: { name: string; body_bytes: number }[];
    method: string;
    path: string;
    body: number | 'head-1';
  }[] = [
    { toxics: [{ name: 'r', body_bytes: 0 }], method: 'GET', path: '/', body: 0 },
    { toxics: [{ name: 'r', body_bytes: 1000 }], method: 'HEAD', path: '/', body: 'head-1' },
    { toxics: [{ name: 'r', body_bytes: 1000 }], method: 'GET', path: '/short', body: 9 },
    {
      toxics: [
        { name: 'a', body_bytes: 1000 },
        { name: 'b', body_bytes: 5 },
      ],
      method: 'GET',
      path: '/',
      body: 5,
    },
  ];
  try {
    for (const c of cases) {
      const px = await createProxyServer({
        api: false,
        proxies: [
          {
            name: 'h',
            upstream: up.address,
            mode: 'http',
            toxics: c.toxics.map((t) => ({
              name: t.name,
              type: 'reset_body',
              attributes: { body_bytes: t.body_bytes },
            })),
          },
        ],
      });
      try {
        const s = await dial(px.proxy('h')!.port);
        const got = collect(s);
        s.write(`${c.method} ${c.path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        const r = await got;
        const what = JSON.stringify(c);
        assert.equal(r.how, 'ECONNRESET', what);
        const text = r.bytes.toString('latin1');
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, what);
        if (c.body === 'head-1') {
          assert.ok(
            !text.includes('\r\n\r\n') && text.endsWith('\r\n\r'),
            `${what}: the head, less its last byte: ${JSON.stringify(text.slice(-8))}`,
          );
        } else {
          assert.equal(r.bytes.length - (text.indexOf('\r\n\r\n') + 4), c.body, what);
        }
      } finally {
        await px.close();
      }
    }
  } finally {
    await up.close();
  }
});
