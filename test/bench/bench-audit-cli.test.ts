// Second audit of `tcplens bench`: a stream out of step, Connection: close, the timeline's errors, small wording.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { Recorder } from '../../src/bench/recorder.ts';
import { progressLine } from '../../src/cli/bench.ts';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';

test('a server that sends more than its Content-Length (a stream out of step) shows as parse errors, not "errors {}"', async () => {
  const server = createNetServer((s) => {
    s.on('error', () => {});
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    const r = await runCli(['bench', `http://127.0.0.1:${port}/`, '-n', '10', '-c', '1', '--json', '--no-kernel']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.requests.ok, 10);
    // Each response's extra bytes end its connection: one desync per connection (the last may come after the run ends).
    assert.equal(result.connectionsOpened, 10);
    assert.ok(result.errors.parse >= 9 && result.errors.parse <= 10, JSON.stringify(result.errors));
    assert.equal(result.requests.failed, 0);
    assert.match(result.errorDetails[0].first, /no request outstanding/);
  } finally {
    server.close();
  }
});

test('-H "Connection: close" without --no-keepalive runs, and says, a new connection per request; with --compare it is refused', async () => {
  let connections = 0;
  const server = createServer((_q, s) => s.end('x')).listen(0, '127.0.0.1');
  server.on('connection', () => connections++);
  await once(server, 'listening');
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const r = await runCli(['bench', url, '-H', 'Connection: close', '-n', '20', '-c', '2', '--json', '--no-kernel']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.mode, 'close');
    assert.match(r.stderr, /running as --no-keepalive/);
    // The server's count (minus bench's check of the target) is the oracle: one connection per request.
    assert.equal(connections - 1, 20);
    assert.equal(result.connectionsOpened, 20);
    const c = await runCli(['bench', url, '-H', 'Connection: close', '--compare', 'keepalive,close', '-d', '1']);
    assert.equal(c.code, 2);
    assert.ok(isOneCleanLine(c.stderr), c.stderr);
  } finally {
    server.close();
  }
});

test('the timeline counts failed connects among its errors; the live line marks a TIME_WAIT count from before the run', () => {
  const rec = new Recorder();
  rec.recording = true;
  rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
  rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(rec.tick(1).errors, 2);
  const line = progressLine({
    elapsedS: 1,
    completed: 5,
    failed: 0,
    connectErrors: 0,
    lastSecondRequests: 5,
    lastSecondP99Ms: 1,
    timeWait: 7,
    timeWaitAgeS: 1.1,
    timeWaitBeforeRun: true,
  });
  assert.match(line, /TIME_WAIT 7 \(before the run\)$/);
});

test('small wording: brackets around an IPv6 address, "1 connection", --compare of one mode twice refused', async () => {
  const probe = createNetServer().listen(0, '::1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const v6 = await runCli(['bench', `http://[::1]:${port}/`, '-n', '1']);
  assert.equal(v6.code, 1);
  assert.match(v6.stderr, new RegExp(`^tcplens: cannot reach \\[::1\\]:${port}: .*ECONNREFUSED`));
  const twice = await runCli(['bench', 'http://127.0.0.1:1/', '--compare', 'keepalive,keep-alive']);
  assert.equal(twice.code, 2);
  assert.ok(isOneCleanLine(twice.stderr), twice.stderr);
  const server = createServer((_q, s) => s.end('x')).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const one = await runCli(['bench', url, '-n', '5', '-c', '1', '--no-kernel']);
    assert.match(one.stdout.split('\n')[0]!, /, 1 connection, /);
    const rate = await runCli(['bench', url, '-R', '50', '-c', '3', '-d', '0.5', '--no-kernel']);
    assert.match(rate.stdout.split('\n')[0]!, /open model at 50 req\/s over 3 connections/);
  } finally {
    server.close();
  }
});
