// Toxics limited to some clients ("clients": addresses or CIDR blocks): connections from 127.0.0.2
// get the fault, connections from 127.0.0.1 (both loopback) pass untouched, in TCP and HTTP mode;
// changing the list reaches new connections; bad lists get a 400 naming the entry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createServer, request } from 'node:http';
import { once } from 'node:events';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, echoServer } from './helpers.ts';

async function dialFrom(localAddress: string, port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, localAddress });
  await once(s, 'connect');
  return s;
}

/** What comes back of `payload` through an echo, until the connection ends. */
async function echoFrom(localAddress: string, port: number, payload: Buffer): Promise<{ bytes: number; how: string }> {
  const s = await dialFrom(localAddress, port);
  const got = collect(s, 10_000);
  s.end(payload);
  const r = await got;
  return { bytes: r.bytes.length, how: r.how };
}

function getFrom(
  localAddress: string,
  port: number,
): Promise<{ status: number; fault: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, fault: res.headers['x-tcplens-fault'] as string | undefined, body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

test('TCP: a toxic for 127.0.0.2 cuts its connections; 127.0.0.1 passes untouched; the list can change', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  const api = server.apiUrl!;
  const payload = Buffer.alloc(10_000, 'x');
  try {
    const created = await call(api, 'POST', '/proxies', { name: 'db', listen: '127.0.0.1:0', upstream: echo.address });
    const port = Number((created.json.listen as string).split(':')[1]);
    // limit_data: the connection closes after 100 bytes each way; deterministic, no clock involved.
    const toxic = await call(api, 'POST', '/proxies/db/toxics', {
      type: 'limit_data',
      stream: 'downstream',
      attributes: { bytes: 100 },
      clients: ['127.0.0.2'],
    });
    assert.equal(toxic.status, 200, toxic.text);
    assert.deepEqual(toxic.json.clients, ['127.0.0.2']);
    assert.deepEqual(await echoFrom('127.0.0.1', port, payload), { bytes: payload.length, how: 'end' });
    assert.equal((await echoFrom('127.0.0.2', port, payload)).bytes, 100);
    assert.equal(
      server.proxy('db')!.stats().toxics[0]!.connectionsAffected,
      1,
      'only the connection from 127.0.0.2 counts as affected',
    );

    // A CIDR block that holds both.
    const patched = await call(api, 'POST', '/proxies/db/toxics/limit_data_downstream', { clients: ['127.0.0.0/8'] });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await echoFrom('127.0.0.1', port, payload)).bytes, 100);
    // Only the other one now; then null: every client again, as without the field.
    await call(api, 'POST', '/proxies/db/toxics/limit_data_downstream', { clients: ['127.0.0.1/32', '::1'] });
    assert.equal((await echoFrom('127.0.0.2', port, payload)).bytes, payload.length);
    assert.equal((await echoFrom('127.0.0.1', port, payload)).bytes, 100);
    const all = await call(api, 'POST', '/proxies/db/toxics/limit_data_downstream', { clients: null });
    assert.equal(all.json.clients, undefined, 'a toxic for every client shows no list, as Toxiproxy shows it');
    assert.equal((await echoFrom('127.0.0.2', port, payload)).bytes, 100);
  } finally {
    await server.close();
    await echo.close();
  }
});

test('HTTP: a status toxic for 127.0.0.2 answers its requests; 127.0.0.1 reaches the origin', async () => {
  let served = 0;
  const origin = createServer((_req, res) => {
    served++;
    res.end('origin');
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const upstream = `127.0.0.1:${(origin.address() as { port: number }).port}`;
  const server = await createProxyServer({
    api: false,
    proxies: [
      {
        name: 'web',
        upstream,
        mode: 'http',
        toxics: [{ type: 'status', attributes: { code: 503 }, clients: ['127.0.0.2'] }],
      },
    ],
  });
  try {
    const port = server.proxy('web')!.port;
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await getFrom('127.0.0.1', port), { status: 200, fault: undefined, body: 'origin' });
      const faulted = await getFrom('127.0.0.2', port);
      assert.deepEqual([faulted.status, faulted.fault], [503, 'status']);
    }
    assert.equal(served, 3);
    assert.equal(server.proxy('web')!.stats().toxics[0]!.requestsAffected, 3);
  } finally {
    await server.close();
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
  }
});

test('a bad client list gets a 400 naming the entry; a Toxiproxy toxic without one is unchanged', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  const api = server.apiUrl!;
  try {
    await call(api, 'POST', '/proxies', { name: 'p', listen: '127.0.0.1:0', upstream: echo.address });
    const cases: [unknown, RegExp][] = [
      ['127.0.0.2', /^bad request body: clients must be a list of addresses or CIDR blocks .*not string$/],
      [[], /clients is empty/],
      [['127.0.0.1', 'localhost'], /^bad request body: clients\[1\]: "localhost" is not an IP address or CIDR block/],
      [['10.0.0.0/33'], /clients\[0\]: "10.0.0.0\/33"/],
      [['fd00::/129'], /clients\[0\]/],
      [[5], /clients\[0\]: 5 is not/],
    ];
    for (const [clients, message] of cases) {
      const r = await call(api, 'POST', '/proxies/p/toxics', { type: 'latency', clients });
      assert.equal(r.status, 400, r.text);
      assert.match(String(r.json.error), message);
    }
    assert.deepEqual((await call(api, 'GET', '/proxies/p/toxics')).json, [], 'nothing added');
    const plain = await call(api, 'POST', '/proxies/p/toxics', { type: 'latency' });
    assert.deepEqual(Object.keys(plain.json), ['attributes', 'name', 'type', 'stream', 'toxicity']);
  } finally {
    await server.close();
    await echo.close();
  }
});
