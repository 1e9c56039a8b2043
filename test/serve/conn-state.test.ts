import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { observeConnections, observerOf, type ConnState } from '../../src/serve/conn-state.ts';
import { gracefulShutdown } from '../../src/serve/graceful.ts';
import { hardenedSettings, hardenServer } from '../../src/serve/harden.ts';
import { until } from './debug-server.ts';

test('follows a connection through new, active, idle and closed, with requests and bytes', async () => {
  let release: (() => void) | undefined;
  const server = createServer((_req, res) => {
    release = () => res.end('ok');
  });
  const transitions: [ConnState | undefined, ConnState][] = [];
  const observer = observeConnections(server, { onStateChange: (c, from) => transitions.push([from, c.state]) });
  assert.equal(observerOf(server), observer);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    await until(() => observer.counts().new === 1, 'the server to accept');
    assert.deepEqual(observer.counts(), { new: 1, active: 0, idle: 0, hijacked: 0, closed: 0 });
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!release) await new Promise((r) => setTimeout(r, 5));
    assert.equal(observer.counts().active, 1);
    release();
    await once(sock, 'data');
    await until(() => observer.counts().idle === 1, 'the connection to turn idle');
    const [conn] = observer.connections();
    assert.equal(conn!.state, 'idle');
    assert.equal(conn!.requests, 1);
    assert.ok(conn!.bytesRead > 20 && conn!.bytesWritten > 20);
    assert.equal(conn!.remotePort, sock.localPort);
    sock.destroy();
    await until(() => observer.counts().closed === 1, 'the server to see the close');
    assert.deepEqual(observer.counts(), { new: 0, active: 0, idle: 0, hijacked: 0, closed: 1 });
    assert.deepEqual(transitions, [
      [undefined, 'new'],
      ['new', 'active'],
      ['active', 'idle'],
      ['idle', 'closed'],
    ]);
    assert.equal(observer.requestsTotal(), 1);
  } finally {
    server.close();
  }
});

test('an upgraded connection is hijacked', async () => {
  const server = createServer();
  server.on('upgrade', (_req, socket) =>
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n'),
  );
  const observer = observeConnections(server);
  const states: ConnState[] = [];
  observer.onStateChange((c) => states.push(c.state));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const sock = connect((server.address() as { port: number }).port, '127.0.0.1');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n');
    sock.resume();
    await once(sock, 'close');
    await until(() => states.length === 3, 'the server to see the close');
    assert.deepEqual(states, ['new', 'hijacked', 'closed']);
  } finally {
    server.close();
  }
});

test('graceful shutdown closes idle connections at once, drains busy ones, destroys the rest at the deadline', async () => {
  const server = createServer((req, res) => {
    const ms = Number(req.url!.slice(1));
    setTimeout(() => res.end('done'), ms);
  });
  const observer = observeConnections(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const idle = connect(port, '127.0.0.1');
  await once(idle, 'connect');
  const ask = (ms: number) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write(`GET /${ms} HTTP/1.1\r\nHost: x\r\n\r\n`);
    let got = '';
    s.setEncoding('latin1').on('data', (d: string) => (got += d));
    return new Promise<string>((resolve) => s.on('close', () => resolve(got)));
  };
  // The quick one must still be in flight when the shutdown starts (300 ms leaves a busy machine
  // time to deliver both requests), and done before the 400 ms deadline that follows.
  const quick = ask(300);
  const slow = ask(5000);
  await until(
    () => observer.counts().active === 2 && observer.counts().new === 1,
    'both requests and the idle connection to arrive',
  );
  const result = await gracefulShutdown(server, { deadlineMs: 400 });
  assert.equal(result.closedIdle, 1);
  assert.equal(result.drained, 1);
  assert.equal(result.destroyed, 1);
  assert.equal(result.timedOut, true);
  assert.match(await quick, /^HTTP\/1.1 200/);
  assert.equal(await slow, '');
  idle.destroy();
});

test('hardened settings: reasons for each, and warnings for combinations that fail', () => {
  const internet = hardenedSettings();
  const by = (r: ReturnType<typeof hardenedSettings>, n: string) => r.settings.find((s) => s.name === n)!.value;
  assert.equal(by(internet, 'headersTimeout'), 10_000);
  assert.ok(by(internet, 'connectionsCheckingInterval') <= by(internet, 'headersTimeout') / 2);
  assert.deepEqual(internet.warnings, []);
  const lb = hardenedSettings({ loadBalancerIdleTimeoutMs: 60_000 });
  assert.ok(by(lb, 'keepAliveTimeout') > 60_000, 'outlives the balancer');
  assert.ok(by(lb, 'headersTimeout') > by(lb, 'keepAliveTimeout'));
  const racy = hardenedSettings({ loadBalancerIdleTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000 });
  assert.match(racy.warnings.join('\n'), /502/);
  const coarse = hardenedSettings({ headersTimeoutMs: 1000, connectionsCheckingIntervalMs: 30_000 });
  assert.match(coarse.warnings.join('\n'), /too coarse/);
  const server = createServer();
  hardenServer(server, { headersTimeoutMs: 2000 });
  assert.equal(server.headersTimeout, 2000);
  assert.equal((server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval, 500);
});

test('a server without an upgrade handler still answers requests that ask to upgrade', async () => {
  const server = createServer((_req, res) => res.end('plain'));
  observeConnections(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const sock = connect((server.address() as { port: number }).port, '127.0.0.1');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const [data] = (await once(sock, 'data')) as [Buffer];
    assert.match(data.toString(), /^HTTP\/1.1 200/);
    sock.destroy();
  } finally {
    server.close();
  }
});
