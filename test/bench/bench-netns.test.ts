import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import { execFileSync } from 'node:child_process';
import { createNetns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;

test('EADDRNOTAVAIL once a port range narrowed to 200 runs out (in a namespace of its own)', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-ports');
  try {
    // The client keeps TIME_WAIT (it closes first) and may not reuse it: 200 ports, then none.
    ns.sysctl({ 'net.ipv4.ip_local_port_range': '40000 40199', 'net.ipv4.tcp_tw_reuse': 0 });
    // A server that answers and keeps the connection, so the client is the one to close.
    const code = `require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nx')); })
      .listen(8080, '127.0.0.1', () => console.log('ready'));`;
    const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(createInterface({ input: server.stdout! }), 'line');
    // Ports come back only after 60 s: once they are gone every connect fails, and a -n run gives up
    // after --connect-timeout of that (exit 1) rather than wait forever.
    const r = await runCli(
      ['bench', 'http://127.0.0.1:8080/', '-n', '400', '-c', '4', '--no-keepalive', '--connect-timeout', '1', '--json'],
      { prefix: ns.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 1, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.gaveUp, true);
    // A connect() that found no port sent nothing: not a request.
    assert.ok(result.errors.EADDRNOTAVAIL > 0, JSON.stringify(result.errors));
    assert.equal(result.connectErrors, result.errors.EADDRNOTAVAIL);
    assert.ok(
      result.requests.ok >= 150 && result.requests.ok <= 200,
      `at most one request per port: ${result.requests.ok}`,
    );
    assert.equal(result.requests.failed, 0);
    assert.equal(result.kernel.ephemeralPortsUsable, 200);
    assert.ok(
      result.kernel.timeWaitPeakClientSide >= 190,
      `client-side TIME_WAIT ${result.kernel.timeWaitPeakClientSide}`,
    );
    assert.match(
      result.verdict.map((v: { text: string }) => v.text).join('\n'),
      /EADDRNOTAVAIL: no local port was free/,
    );
  } finally {
    ns.close();
  }
});

/** Tcp counters of /proc/net/snmp as the namespace's kernel sees them. */
function tcpCounters(exec: string[]): Record<string, number> {
  const text = execFileSync(exec[0]!, [...exec.slice(1), 'cat', '/proc/net/snmp'], { encoding: 'utf8' });
  const [names, values] = text
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'))
    .map((l) => l.split(/\s+/).slice(1));
  return Object.fromEntries(names!.map((n, i) => [n, Number(values![i])]));
}

test('a target that dies mid-run: the kernel counts as many failed connects as bench reports, and few', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-dies');
  try {
    // Serves 100 requests, then the process exits: the listener is gone and connects are refused.
    const code = `let n = 0; require('http').createServer({ keepAliveTimeout: 30000 }, (q, s) => { s.end('x'); if (++n === 100) process.exit(0); })
      .listen(8080, '127.0.0.1', () => console.log('ready'));`;
    const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(createInterface({ input: server.stdout! }), 'line');
    const before = tcpCounters(ns.exec);
    const r = await runCli(['bench', 'http://127.0.0.1:8080/', '-d', '2', '-c', '4', '--json', '--no-kernel'], {
      prefix: ns.exec,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const after = tcpCounters(ns.exec);
    const attemptFails = after.AttemptFails! - before.AttemptFails!;
    const activeOpens = after.ActiveOpens! - before.ActiveOpens!;
    assert.ok(result.requests.ok >= 95 && result.requests.ok <= 100, `ok ${result.requests.ok}`);
    // The exit closes the listener and the connections together; on a busy machine a client that saw
    // its connection end may reconnect in between, and the kernel resets that one as the listener goes.
    const opened = result.connectionsOpened as number;
    assert.ok(opened >= 4 && opened <= 8, `connections opened ${opened}`);
    // Sent: the 100, and per connection at most the one in flight when it ended.
    assert.ok(
      result.requests.total >= 100 && result.requests.total <= 100 + opened,
      `requests sent: ${result.requests.total}`,
    );
    assert.ok(result.errors.ECONNREFUSED > 0, JSON.stringify(result.errors));
    // The kernel's own count of connects that ended in SYN-SENT (refused), against bench's.
    assert.ok(
      Math.abs(attemptFails - result.connectErrors) <= 4,
      `kernel AttemptFails ${attemptFails}, bench connectErrors ${result.connectErrors}`,
    );
    // A pause that doubles from 10 ms to 1 s: at most 8 attempts per connection in 2 s (not tens of thousands).
    assert.ok(attemptFails >= 1 && attemptFails <= 4 * 9, `kernel AttemptFails ${attemptFails}`);
    // Connects started: bench's check of the target, the connections opened, and the failed ones;
    // plus, at most once per connection slot, a reconnect the kernel completed just as the listener
    // went (queued, then reset with it) before bench saw it open: not refused, so not a failed attempt.
    const unseen = activeOpens - (1 + opened + attemptFails);
    assert.ok(
      unseen >= 0 && unseen <= 4,
      `kernel ActiveOpens ${activeOpens}, AttemptFails ${attemptFails}, opened ${opened}, errors ${JSON.stringify(result.errors)}`,
    );
  } finally {
    ns.close();
  }
});

test('a target with no route says so once: "ENETUNREACH (no route to the network)", not the code and Node\'s message that repeats it (in a namespace)', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  // A namespace of our own has loopback only: the kernel has no route to 198.18.5.5.
  const ns = createNetns('tcplens-test-unreach');
  try {
    const r = await runCli(['bench', 'http://198.18.5.5:80/', '-n', '10'], { prefix: ns.exec, timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim(), 'tcplens: cannot reach 198.18.5.5:80: ENETUNREACH (no route to the network)');
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.equal(r.stdout, '');
  } finally {
    ns.close();
  }
});
