// A proxy created with its toxics in one call (Toxiproxy #148): all of it or nothing. The first
// connection already meets the toxics; any bad toxic refuses the whole proxy with a 4xx and leaves
// no proxy and no bound port. Toxiproxy itself ignores toxics in this call: the replay shows that
// against the real server when its binary is present.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, dial, echoServer } from './helpers.ts';
import { TOXIPROXY_SERVER, startToxiproxy } from './toxiproxy.ts';

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, text, json };
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('POST /proxies with toxics: the first connection meets them; a bad toxic leaves no proxy and no bound port', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  const api = server.apiUrl!;
  try {
    const created = await call(api, 'POST', '/proxies', {
      name: 'db',
      listen: '127.0.0.1:0',
      upstream: echo.address,
      toxics: [
        { type: 'limit_data', stream: 'downstream', attributes: { bytes: 3 } },
        { type: 'latency', name: 'lag', stream: 'upstream', attributes: { latency: 1 } },
      ],
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(
      (created.json.toxics as { name: string }[]).map((t) => t.name),
      ['lag', 'limit_data_downstream'],
    );
    // The very first connection, opened as soon as the answer came: cut after 3 bytes.
    const s = await dial(Number((created.json.listen as string).split(':')[1]));
    const got = collect(s, 10_000);
    s.write('hello');
    assert.equal((await got).bytes.toString(), 'hel');

    const port = await freePort();
    const base = { name: 'web', listen: `127.0.0.1:${port}`, upstream: echo.address };
    const bad: [unknown[], number, RegExp][] = [
      [[{ type: 'latency' }, { type: 'nosuch' }], 400, /^invalid toxic type$/],
      [[{ type: 'latency' }, { type: 'latency' }], 409, /^toxic already exists$/],
      [[{ type: 'latency', stream: 'sideways' }], 400, /^stream was invalid/],
      [[{ type: 'latency', attributes: { latency: 'slow' } }], 400, /cannot unmarshal string/],
      [[{ type: 'status' }], 400, /^invalid toxic type: status needs a proxy in http mode$/],
      [[{ type: 'latency', clients: ['nowhere'] }], 400, /clients\[0\]/],
      [[5], 400, /cannot unmarshal number into Go value of type toxics\.ToxicWrapper/],
    ];
    for (const [toxics, status, message] of bad) {
      const r = await call(api, 'POST', '/proxies', { ...base, toxics });
      assert.equal(r.status, status, `${JSON.stringify(toxics)}: ${r.text}`);
      assert.match(String(r.json.error), message, JSON.stringify(toxics));
      assert.equal((await call(api, 'GET', '/proxies/web')).status, 404, 'no proxy left');
    }
    // Nothing held the port: the same proxy without the bad toxic takes it.
    const ok = await call(api, 'POST', '/proxies', { ...base, toxics: [{ type: 'latency' }] });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.listen, `127.0.0.1:${port}`);
    // A listen that fails (the port is now taken) also leaves no proxy, toxics or not.
    const clash = await call(api, 'POST', '/proxies', { ...base, name: 'clash', toxics: [{ type: 'latency' }] });
    assert.equal(clash.status, 500, clash.text);
    assert.equal((await call(api, 'GET', '/proxies/clash')).status, 404);
  } finally {
    await server.close();
    await echo.close();
  }
});

test('Toxiproxy ignores toxics given to POST /proxies (created without them, bad ones unseen); tcplens creates them or nothing', {
  skip: !existsSync(TOXIPROXY_SERVER) && `no ${TOXIPROXY_SERVER}`,
}, async () => {
  const echo = await echoServer();
  const real = await startToxiproxy();
  const ours = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const good = {
      name: 'g',
      listen: '127.0.0.1:0',
      upstream: echo.address,
      toxics: [{ type: 'latency', attributes: { latency: 5 } }],
    };
    const bad = { name: 'b', listen: '127.0.0.1:0', upstream: echo.address, toxics: [{ type: 'nosuch' }] };
    const [realGood, oursGood] = [
      await call(real.url, 'POST', '/proxies', good),
      await call(ours.apiUrl!, 'POST', '/proxies', good),
    ];
    assert.deepEqual([realGood.status, realGood.json.toxics], [201, []]);
    assert.equal(oursGood.status, 201);
    assert.deepEqual(
      (oursGood.json.toxics as { type: string }[]).map((t) => t.type),
      ['latency'],
    );
    const [realBad, oursBad] = [
      await call(real.url, 'POST', '/proxies', bad),
      await call(ours.apiUrl!, 'POST', '/proxies', bad),
    ];
    assert.equal(realBad.status, 201);
    assert.equal(oursBad.status, 400);
    assert.equal((await call(ours.apiUrl!, 'GET', '/proxies/b')).status, 404);
  } finally {
    await real.close();
    await ours.close();
    await echo.close();
  }
});
