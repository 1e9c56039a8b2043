import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { createNetns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;

test('EADDRNOTAVAIL once a port range narrowed to 200 runs out (in a namespace of its own)', { skip: !root && 'needs root for a network namespace' }, async () => {
  const ns = createNetns('tcplens-test-ports');
  try {
    // The client keeps TIME_WAIT (it closes first) and may not reuse it: 200 ports, then none.
    ns.sysctl({ 'net.ipv4.ip_local_port_range': '40000 40199', 'net.ipv4.tcp_tw_reuse': 0 });
    // A server that answers and keeps the connection, so the client is the one to close.
    const code = `require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nx')); })
      .listen(8080, '127.0.0.1', () => console.log('ready'));`;
    const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(createInterface({ input: server.stdout! }), 'line');
    const r = await runCli(['bench', 'http://127.0.0.1:8080/', '-n', '400', '-c', '4', '--no-keepalive', '--json'], { prefix: ns.exec, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.requests.total, 400);
    assert.ok(result.errors.EADDRNOTAVAIL >= 150, JSON.stringify(result.errors));
    assert.ok(result.requests.ok <= 200, `at most one request per port: ${result.requests.ok}`);
    assert.equal(result.kernel.ephemeralPortsUsable, 200);
    assert.ok(result.kernel.timeWaitPeakClientSide >= 190, `client-side TIME_WAIT ${result.kernel.timeWaitPeakClientSide}`);
    assert.match(result.verdict.map((v: { text: string }) => v.text).join('\n'), /EADDRNOTAVAIL: no local port was free/);
  } finally {
    ns.close();
  }
});
