// Six ways hostile input once broke the proxy, each reproduced as it was found: duplicated bytes
// from the slicer, a timer that overflowed, the token rule fooled by a name, a proxy dialling
// itself, names too long to address, and a body too large answered with a reset.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { ProxyCollection, createProxyServer } from '../../src/proxy/server.ts';
import { createProxyMetrics } from '../../src/proxy/metrics.ts';
import { startApi } from '../../src/proxy/api.ts';
import { slicePoints } from '../../src/proxy/toxics/slicer.ts';
import { collect, dial, echoes, echoServer, freePort, sleep, startProxies, tcpServer } from './helpers.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function call(base: string, method: string, path: string, body?: string) {
  const res = await fetch(base + path, { method, body });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text || 'null') as Record<string, unknown> | null };
}

test('slicer cut points stay inside the chunk when size_variation exceeds average_size', () => {
  for (let i = 0; i < 200; i++) {
    const cuts: number[] = [];
    slicePoints(0, 200_000, 1 + (i % 50), 1000, cuts);
    let from = 0;
    for (const to of cuts) {
      assert.ok(to > from && to <= 200_000, `cut ${to} after ${from}`);
      from = to;
    }
    assert.equal(from, 200_000);
  }
});

test('slicer 1,1000 lets 200,000 bytes through exactly once each', async () => {
  const payload = randomBytes(200_000);
  const source = await tcpServer((s) => s.end(payload));
  const px = await startProxies([
    {
      name: 'p',
      upstream: source.address,
      toxics: [{ type: 'slicer', attributes: { average_size: 100, size_variation: 1000 } }],
    },
  ]);
  try {
    const r = await collect(await dial(px.proxy('p')!.port), 20_000);
    assert.equal(r.how, 'end');
    assert.equal(r.bytes.length, payload.length);
    assert.equal(sha(r.bytes), sha(payload));
  } finally {
    await px.close();
    await source.close();
  }
});

test('a latency of 2^31 ms or more holds the data without overflowing the timer, and removing it releases the data', async () => {
  const echo = await echoServer();
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  const px = await startProxies([
    {
      name: 'p',
      upstream: echo.address,
      toxics: [{ name: 'lag', type: 'latency', attributes: { latency: 3_000_000_000 } }],
    },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.write('held');
    await sleep(300);
    assert.deepEqual(got, [], 'nothing comes back while the latency holds');
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), `warnings: ${warnings.join()}`);
    px.proxy('p')!.removeToxic('lag');
    await sleep(50);
    assert.equal(Buffer.concat(got).toString(), 'held');
    s.destroy();
  } finally {
    process.off('warning', onWarning);
    await px.close();
    await echo.close();
  }
});

test('the API refuses to bind without a token when a name resolves to any address off loopback', async () => {
  const collection = new ProxyCollection();
  const metrics = createProxyMetrics(collection);
  try {
    // A name that looks like loopback but resolves elsewhere, and one resolving to both.
    for (const addresses of [['198.18.0.1'], ['127.0.0.1', '198.18.0.1']]) {
      await assert.rejects(
        startApi(collection, metrics, { address: '127.evil.test:0', lookup: async () => addresses }),
        /reachable from other hosts .*: give it a --token/,
        addresses.join(),
      );
    }
    // localhost resolves to loopback only: no token needed.
    const api = await startApi(collection, metrics, { address: 'localhost:0' });
    await api.close();
  } finally {
    metrics.close();
  }
});

test('a proxy whose upstream is its own listen address is refused, on create and on update', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const port = await freePort();
    const self = await call(
      server.apiUrl!,
      'POST',
      '/proxies',
      JSON.stringify({ name: 's', listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${port}` }),
    );
    assert.equal(self.status, 400, self.text);
    assert.match(String(self.json!.error), /upstream/);
    assert.deepEqual(Object.keys((await call(server.apiUrl!, 'GET', '/proxies')).json!), [], 'nothing left behind');
    await assert.rejects(dial(port), /ECONNREFUSED/);

    assert.equal(
      (
        await call(
          server.apiUrl!,
          'POST',
          '/proxies',
          JSON.stringify({ name: 'p', listen: '127.0.0.1:0', upstream: echo.address }),
        )
      ).status,
      201,
    );
    const listen = server.proxy('p')!.listen;
    const loop = await call(server.apiUrl!, 'POST', '/proxies/p', JSON.stringify({ upstream: listen }));
    assert.equal(loop.status, 400, loop.text);
    const s = await dial(server.proxy('p')!.port);
    assert.ok(await echoes(s), 'the proxy still forwards to its old upstream');
    s.destroy();
  } finally {
    await server.close();
    await echo.close();
  }
});

test('proxy and toxic names longer than 1024 bytes are refused with a message naming the field', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const long = 'x'.repeat(20_000);
    const proxy = await call(
      server.apiUrl!,
      'POST',
      '/proxies',
      JSON.stringify({ name: long, upstream: echo.address }),
    );
    assert.equal(proxy.status, 400);
    assert.match(String(proxy.json!.error), /name/);
    const fits = 'é'.repeat(512); // 1024 bytes of UTF-8
    const ok = await call(server.apiUrl!, 'POST', '/proxies', JSON.stringify({ name: fits, upstream: echo.address }));
    assert.equal(ok.status, 201, ok.text);
    assert.equal(
      (await call(server.apiUrl!, 'GET', `/proxies/${encodeURIComponent(fits)}`)).status,
      200,
      'addressable by URL',
    );
    const toxic = await call(
      server.apiUrl!,
      'POST',
      `/proxies/${encodeURIComponent(fits)}/toxics`,
      JSON.stringify({ name: long, type: 'latency' }),
    );
    assert.equal(toxic.status, 400);
    assert.match(String(toxic.json!.error), /name/);
    assert.equal((await call(server.apiUrl!, 'DELETE', `/proxies/${encodeURIComponent(fits)}`)).status, 204);
  } finally {
    await server.close();
    await echo.close();
  }
});

/** POST a body of `size` bytes without waiting for it to be read, as curl does. */
function postRaw(url: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': size } },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

test('a body over 1 MiB gets a JSON 413, and the API keeps serving', async () => {
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    // The last one is past what is drained: the connection closes after the answer.
    for (const size of [1024 * 1024 + 1, 8 * 1024 * 1024, 80 * 1024 * 1024]) {
      const r = await postRaw(`${server.apiUrl}/proxies`, size);
      assert.equal(r.status, 413, r.body);
      assert.deepEqual(JSON.parse(r.body), { error: 'request body larger than 1 MiB', status: 413 });
    }
    assert.equal((await call(server.apiUrl!, 'GET', '/proxies')).status, 200);
  } finally {
    await server.close();
  }
});
