// More than one thread carrying a proxy's connections (threads option, --threads): the kernel
// spreads connections over the threads' listeners, and a change through the API or a handle is in
// effect in all of them once made; counts are summed over the threads; nothing is left after close().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { createProxyServer, type ProxyServer } from '../../src/proxy/server.ts';
import type { Proxy as OneProxy } from '../../src/proxy/proxy.ts';
import { rowCounters } from '../../src/proxy/shared-counters.ts';
import { collect, dial, echoServer, echoes, roundTrip, sleep } from './helpers.ts';
import { startCliProxy } from './cli-proxy.ts';

const THREADS = 2;
/** Enough connections that the kernel's hash of their ports puts some on every thread but once in 2^15. */
const CONNECTIONS = 16;

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

/** Connections each thread accepted for the proxy, from its own row of counters. */
function perThread(server: ProxyServer, name: string): number[] {
  const p = server.proxy(name) as OneProxy;
  return Array.from({ length: THREADS }, (_, slot) => rowCounters(p.share!.block, slot).connectionsTotal);
}

/** Listening TCP sockets on `port`, as ss lists them. */
function listeners(port: number): number {
  const r = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

async function openAll(port: number, n = CONNECTIONS): Promise<Socket[]> {
  const all: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await dial(port);
    assert.ok(await echoes(s), `connection ${i} echoes`);
    all.push(s);
  }
  return all;
}

test('with two threads, connections spread over both, and every one (open or new) meets a toxic the API added, and not once it removed it', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0', threads: THREADS });
  const api = server.apiUrl!;
  const open: Socket[] = [];
  try {
    assert.equal(
      (await call(api, 'POST', '/proxies', { name: 'p', listen: '127.0.0.1:0', upstream: echo.address })).status,
      201,
    );
    const port = server.proxy('p')!.port;
    assert.equal(listeners(port), THREADS, 'one listener per thread on the port');
    open.push(...(await openAll(port)));
    const spread = perThread(server, 'p');
    assert.ok(
      spread.every((n) => n > 0),
      `connections per thread: ${spread}`,
    );
    assert.equal(
      spread.reduce((a, b) => a + b),
      CONNECTIONS,
    );

    const latencyMs = 300;
    const added = await call(api, 'POST', '/proxies/p/toxics', {
      type: 'latency',
      stream: 'upstream',
      attributes: { latency: latencyMs },
    });
    assert.equal(added.status, 200, added.text);
    // Open connections, whichever thread carries them, and new ones: the bytes written once the
    // API answered are delayed. A thread that made the change later would let them through at once.
    const fresh = await Promise.all(Array.from({ length: CONNECTIONS }, () => dial(port)));
    open.push(...fresh);
    const delayed = await Promise.all(open.map((s) => roundTrip(s)));
    for (const [i, ms] of delayed.entries())
      assert.ok(ms >= latencyMs - 1, `connection ${i}: round trip ${ms.toFixed(1)} ms with a ${latencyMs} ms toxic`);
    assert.ok(
      perThread(server, 'p').every((n) => n > CONNECTIONS / THREADS / 4),
      `new connections per thread: ${perThread(server, 'p')}`,
    );

    assert.equal((await call(api, 'DELETE', '/proxies/p/toxics/latency_upstream')).status, 204);
    const after = await Promise.all(open.map((s) => roundTrip(s)));
    // Without the toxic a round trip takes what the echo takes; against the delay it had, far less.
    for (const [i, ms] of after.entries())
      assert.ok(ms < latencyMs / 2, `connection ${i}: round trip ${ms.toFixed(1)} ms after the toxic was removed`);
  } finally {
    for (const s of open) s.destroy();
    await server.close();
    await echo.close();
  }
});

test("with two threads, a handle's addToxic is in effect everywhere when it returns; per-client toxics hold in every thread", async () => {
  const echo = await echoServer();
  const server = await createProxyServer({
    api: false,
    threads: THREADS,
    proxies: [{ name: 'p', upstream: echo.address }],
  });
  const open: Socket[] = [];
  try {
    const p = server.proxy('p')!;
    open.push(...(await openAll(p.port)));
    assert.ok(
      perThread(server, 'p').every((n) => n > 0),
      `connections per thread: ${perThread(server, 'p')}`,
    );
    // Only 127.0.0.2 is cut off: these connections come from 127.0.0.1.
    p.addToxic({
      name: 'elsewhere',
      type: 'timeout',
      stream: 'downstream',
      attributes: { timeout: 0 },
      clients: ['127.0.0.2'],
    });
    for (const [i, s] of open.entries()) assert.ok(await echoes(s), `connection ${i} from 127.0.0.1 still echoes`);
    p.updateToxic('elsewhere', { clients: ['127.0.0.1'] });
    // Nothing comes back on any of them now: each collects until the toxic's effect is undone.
    const silent = open.map((s) => collect(s, 300));
    for (const s of open) s.write('ping');
    for (const [i, r] of (await Promise.all(silent)).entries())
      assert.equal(r.bytes.length, 0, `connection ${i} got ${r.bytes.length} bytes through a timeout toxic`);
    assert.equal(
      server.stats()[0]!.toxics[0]!.connectionsAffected,
      CONNECTIONS,
      'affected connections summed over the threads',
    );
  } finally {
    for (const s of open) s.destroy();
    await server.close();
    await echo.close();
  }
});

test('with two threads, metrics and stats sum every thread, max_connections caps all of them together, and disabling closes every connection', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0', threads: THREADS });
  const api = server.apiUrl!;
  const open: Socket[] = [];
  try {
    // Every connection the cap allows is open, spread over both threads: any one more is over it,
    // though neither thread's own listener holds the cap's number.
    const cap = CONNECTIONS;
    assert.equal(
      (
        await call(api, 'POST', '/proxies', {
          name: 'p',
          listen: '127.0.0.1:0',
          upstream: echo.address,
          max_connections: cap,
        })
      ).status,
      201,
    );
    const port = server.proxy('p')!.port;
    open.push(...(await openAll(port, cap)));
    const spread = perThread(server, 'p');
    assert.ok(
      spread.every((n) => n > 0 && n < cap),
      `connections per thread: ${spread}`,
    );
    const extra = 8;
    const tries = await Promise.all(Array.from({ length: extra }, () => dial(port)));
    const answered = await Promise.all(tries.map((s) => echoes(s)));
    for (const s of tries) s.destroy();
    assert.equal(answered.filter(Boolean).length, 0, `connections past max_connections ${cap} that echoed`);
    const stats = server.stats()[0]!;
    assert.equal(stats.connectionsRejected, extra);
    assert.equal(stats.connectionsActive, cap);
    assert.equal(stats.connectionsTotal, cap);
    assert.equal(stats.bytesUpstream, cap * 4, 'every thread\'s bytes: "ping" per connection that echoed');
    const metrics = (await call(api, 'GET', '/metrics')).text;
    assert.match(metrics, new RegExp(`^tcplens_proxy_connections_total\\{proxy="p"\\} ${cap}$`, 'm'));
    assert.match(metrics, new RegExp(`^tcplens_proxy_connections_rejected_total\\{proxy="p"\\} ${extra}$`, 'm'));
    assert.match(
      metrics,
      new RegExp(
        `^toxiproxy_proxy_received_bytes_total\\{direction="upstream",listener="127.0.0.1:${port}",proxy="p",upstream="${echo.address}"\\} ${cap * 4}$`,
        'm',
      ),
    );
    assert.match(
      metrics,
      new RegExp(
        `^toxiproxy_proxy_sent_bytes_total\\{direction="downstream",listener="127.0.0.1:${port}",proxy="p",upstream="${echo.address}"\\} ${cap * 4}$`,
        'm',
      ),
    );

    const closed = open.map((s) => collect(s, 5000));
    assert.equal((await call(api, 'POST', '/proxies/p', { enabled: false })).status, 200);
    for (const [i, r] of (await Promise.all(closed)).entries())
      assert.notEqual(r.how, 'open', `connection ${i} still open after the proxy was disabled`);
    assert.equal(listeners(port), 0, "no thread listens on a disabled proxy's port");
    await assert.rejects(dial(port), /ECONNREFUSED/);
    assert.equal((await call(api, 'POST', '/proxies/p', { enabled: true })).status, 200);
    assert.equal(listeners(port), THREADS);
    // The closed ones left the cap: as many are let in again.
    for (let i = 0; i < 50 && server.stats()[0]!.connectionsActive > 0; i++) await sleep(20);
    assert.equal(server.stats()[0]!.connectionsActive, 0);
    open.push(...(await openAll(port, cap)));
    assert.equal(server.stats()[0]!.connectionsActive, cap);
  } finally {
    for (const s of open) s.destroy();
    await server.close();
    await echo.close();
  }
});

test('with two threads, a listen address in use fails as with one, and close() leaves no thread and no listener', async () => {
  // libuv's pool starts its threads at the first lookup, which the API's start makes: started first.
  await lookup('localhost');
  const threadsBefore = readdirSync('/proc/self/task').length;
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0', threads: THREADS });
  const api = server.apiUrl!;
  let port = 0;
  try {
    assert.equal(
      (await call(api, 'POST', '/proxies', { name: 'a', listen: '127.0.0.1:0', upstream: echo.address })).status,
      201,
    );
    port = server.proxy('a')!.port;
    // Every thread's listener sets SO_REUSEPORT: a second proxy must still not join the port.
    const clash = await call(api, 'POST', '/proxies', {
      name: 'b',
      listen: `127.0.0.1:${port}`,
      upstream: echo.address,
    });
    assert.equal(clash.status, 500, clash.text);
    assert.match(clash.text, /address already in use/);
    assert.equal(listeners(port), THREADS);
    assert.ok(readdirSync('/proc/self/task').length > threadsBefore, 'the proxy thread runs');
  } finally {
    await server.close();
    await echo.close();
  }
  assert.equal(listeners(port), 0);
  // The thread has exited when close() resolves; the process's task list shows it gone.
  for (let i = 0; i < 50 && readdirSync('/proc/self/task').length > threadsBefore; i++) await sleep(20);
  assert.equal(readdirSync('/proc/self/task').length, threadsBefore, 'threads after close()');
});

test('tcplens proxy --threads 3 listens three times on the port; --threads 0 and a bad TCPLENS_PROXY_THREADS are refused in one line', async () => {
  const echo = await echoServer();
  try {
    const cli = await startCliProxy(['--no-api', '--upstream', echo.address, '--threads', '3']);
    try {
      const port = cli.port('proxy');
      assert.equal(listeners(port), 3);
      const conns = await openAll(port, 4);
      for (const s of conns) s.destroy();
    } finally {
      const { code, last } = await cli.stop();
      assert.equal(code, 0);
      assert.equal((JSON.parse(last) as { stats: { connectionsTotal: number }[] }).stats[0]!.connectionsTotal, 4);
    }
    const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
    const zero = spawnSync(
      process.execPath,
      [main, 'proxy', '--no-api', '--upstream', echo.address, '--threads', '0'],
      { encoding: 'utf8' },
    );
    assert.equal(zero.status, 2);
    assert.match(zero.stderr, /^tcplens: --threads .*\n$/);
    const env = spawnSync(process.execPath, [main, 'proxy', '--no-api', '--upstream', echo.address], {
      encoding: 'utf8',
      env: { ...process.env, TCPLENS_PROXY_THREADS: 'many' },
    });
    assert.equal(env.status, 2);
    assert.equal(env.stderr, "tcplens: TCPLENS_PROXY_THREADS must be a whole number from 1 to 64, not 'many'\n");
  } finally {
    await echo.close();
  }
});
