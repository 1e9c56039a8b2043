// Hostile clients through an HTTP-mode proxy: request-smuggling shapes reach the upstream as sent and
// are refused there with no request slipping through, a slowloris client is cut off by the upstream's
// header timeout, and a flood is held to max_connections.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createProxyServer, type ProxyServer } from '../../src/proxy/server.ts';
import { collect, dial, sleep } from './helpers.ts';

interface Origin {
  address: string;
  /** URLs of the requests the origin handled. */
  handled: string[];
  server: Server;
}

async function origin(): Promise<Origin> {
  const handled: string[] = [];
  const server = createServer(
    { headersTimeout: 400, requestTimeout: 800, connectionsCheckingInterval: 50, keepAliveTimeout: 400 },
    (req, res) => {
      handled.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.end('ok'));
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, handled, server };
}

async function httpProxy(upstream: string, maxConnections?: number): Promise<ProxyServer> {
  // A toxic that picks every request keeps the per-request path busy, as in real use.
  return createProxyServer({
    api: false,
    proxies: [
      {
        name: 'h',
        mode: 'http',
        upstream,
        max_connections: maxConnections,
        toxics: [{ type: 'latency', attributes: { latency: 0 } }],
      },
    ],
  });
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
// Each one is a request whose length two parsers may disagree on, followed by a second request.
const SHAPES: [string, string][] = [
  ['CL and TE', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['TE and CL', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n'],
  ['two Content-Lengths', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n'],
  ['TE not ending in chunked', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['space before the colon', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['folded TE', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n'],
  ['bad chunk size', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n'],
  ['signed Content-Length', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +40\r\n\r\n'],
  ['NUL in a header', 'GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n'],
  ['a 20 KiB header', `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`],
];

test('request-smuggling shapes through an HTTP-mode proxy are refused by the origin with 400/431, and the request behind them never runs', async () => {
  const up = await origin();
  const px = await httpProxy(up.address);
  try {
    for (const [what, shape] of SHAPES) {
      const s = await dial(px.proxy('h')!.port);
      const got = collect(s, 5000);
      s.write(shape + SMUGGLED);
      const r = await got;
      const head = r.bytes.toString('latin1');
      assert.match(head, /^HTTP\/1\.1 (400|431) /, `${what}: ${head.slice(0, 60) || r.how}`);
      assert.equal(head.match(/HTTP\/1\.1/g)!.length, 1, `${what}: one answer only`);
      assert.notEqual(r.how, 'open', `${what}: the connection is closed`);
    }
    assert.deepEqual(
      up.handled.filter((u) => u === '/smuggled'),
      [],
    );
    await sleep(100);
    assert.equal(px.stats()[0]!.connectionsActive, 0, 'nothing left open');
    // A well-formed request still goes through.
    const s = await dial(px.proxy('h')!.port);
    const got = collect(s, 5000);
    s.write('GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match((await got).bytes.toString(), /^HTTP\/1\.1 200 [\s\S]*ok$/);
  } finally {
    await px.close();
    up.server.close();
  }
});

test('a slowloris client through an HTTP-mode proxy is cut off by the origin, and the proxy lets go of both sockets', async () => {
  const up = await origin();
  const px = await httpProxy(up.address);
  try {
    const s = await dial(px.proxy('h')!.port);
    const got = collect(s, 10_000);
    s.write('GET /slow HTTP/1.1\r\nHost: x\r\n');
    // A header byte every 50 ms: the head never completes within the origin's 400 ms.
    const drip = setInterval(() => s.writable && s.write('X'), 50);
    const r = await got;
    clearInterval(drip);
    assert.notEqual(r.how, 'open', 'closed before the deadline');
    assert.ok(r.elapsedMs >= 400, `cut after ${r.elapsedMs.toFixed(0)} ms, not before the origin's header timeout`);
    assert.match(r.bytes.toString(), /^(HTTP\/1\.1 408 |$)/);
    assert.deepEqual(up.handled, []);
    await sleep(100);
    assert.equal(px.stats()[0]!.connectionsActive, 0);
  } finally {
    await px.close();
    up.server.close();
  }
});

test('a flood of 300 connections at an HTTP-mode proxy with max_connections 100 holds 100 and closes the rest at accept', async () => {
  const up = await origin();
  up.server.headersTimeout = 60_000;
  up.server.requestTimeout = 120_000;
  const px = await httpProxy(up.address, 100);
  const sockets: Socket[] = [];
  try {
    const port = px.proxy('h')!.port;
    const results = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const s = await dial(port);
        sockets.push(s);
        s.write('GET /flood HTTP/1.1\r\nHost: x\r\n'); // a head that never ends
        return collect(s, 1500);
      }),
    );
    const held = results.filter((r) => r.how === 'open').length;
    assert.equal(held, 100, 'held open');
    assert.equal(px.stats()[0]!.connectionsRejected, 200);
    assert.ok(
      results.every((r) => r.how === 'open' || r.bytes.length === 0),
      'the rest get nothing but the close',
    );
  } finally {
    for (const s of sockets) s.destroy();
    await sleep(100);
    assert.equal(px.stats()[0]!.connectionsActive, 0);
    await px.close();
    up.server.close();
  }
});
