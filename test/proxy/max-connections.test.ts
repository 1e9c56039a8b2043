// The cap on a proxy's concurrent client connections: connections past it are closed at accept and
// counted in /metrics; the cap is set per proxy by the API and for every proxy by --max-connections.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, dial, echoServer, echoes, sleep } from './helpers.ts';
import { startCliProxy } from './cli-proxy.ts';

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test('connections past max_connections are closed at accept, counted in /metrics, and accepted again once others close', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  const open: Socket[] = [];
  try {
    const created = await call(server.apiUrl!, 'POST', '/proxies', {
      name: 'p',
      listen: '127.0.0.1:0',
      upstream: echo.address,
      max_connections: 3,
    });
    assert.equal(created.status, 201);
    assert.equal(created.json.max_connections, 3);
    const port = server.proxy('p')!.port;
    for (let i = 0; i < 3; i++) {
      const s = await dial(port);
      assert.ok(await echoes(s));
      open.push(s);
    }
    const refused: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await dial(port);
      s.write('ping');
      const r = await collect(s, 2000);
      assert.equal(r.bytes.length, 0, 'nothing echoed past the cap');
      refused.push(r.how);
    }
    assert.ok(
      refused.every((how) => how !== 'open'),
      `closed at accept: ${refused.join()}`,
    );
    const text = await (await fetch(`${server.apiUrl}/metrics`)).text();
    assert.match(text, /^tcplens_proxy_connections_rejected_total\{proxy="p"\} 2$/m);
    assert.match(text, /^tcplens_proxy_max_connections\{proxy="p"\} 3$/m);
    assert.equal(server.stats()[0]!.connectionsRejected, 2);

    // One closes: room for one more.
    open.shift()!.destroy();
    await sleep(100);
    const again = await dial(port);
    assert.ok(await echoes(again));
    open.push(again);

    // Raised live by the API: the next one is served at once.
    const raised = await call(server.apiUrl!, 'POST', '/proxies/p', { max_connections: 4 });
    assert.equal(raised.json.max_connections, 4);
    const fourth = await dial(port);
    assert.ok(await echoes(fourth));
    open.push(fourth);

    for (const bad of [0, -1, 1.5, 'many', 2 ** 31]) {
      const r = await call(server.apiUrl!, 'POST', '/proxies', {
        name: `bad${String(bad)}`,
        upstream: echo.address,
        max_connections: bad,
      });
      assert.equal(r.status, 400, String(bad));
      assert.match(String(r.json.error), /max_connections/);
    }
  } finally {
    for (const s of open) s.destroy();
    await server.close();
    await echo.close();
  }
});

test('--max-connections caps every proxy of the process and shows in --json', async () => {
  const echo = await echoServer();
  const px = await startCliProxy(['--no-api', '--upstream', echo.address, '--max-connections', '1']);
  try {
    assert.equal(px.proxies[0]!.max_connections, 1);
    const first = await dial(px.port('proxy'));
    assert.ok(await echoes(first));
    const second = await dial(px.port('proxy'));
    second.write('ping');
    const r = await collect(second, 2000);
    assert.equal(r.bytes.length, 0);
    first.destroy();
    const { last } = await px.stop();
    const stats = (JSON.parse(last) as { stats: { connectionsRejected: number; maxConnections: number }[] }).stats[0]!;
    assert.deepEqual([stats.connectionsRejected, stats.maxConnections], [1, 1]);
  } finally {
    px.child.kill();
    await echo.close();
  }
});
