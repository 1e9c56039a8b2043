import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { runCli, isOneCleanLine } from '../helpers/cli.ts';

// Each fault makes the real failure happen: a module that does not exist, a netlink protocol the
// kernel refuses, a sock_diag protocol no diag module handles (the kernel answers ENOENT).
const FAULTS: [string, RegExp][] = [
  ['koffi', /the FFI module koffi cannot load \(Cannot find module/],
  ['refused', /netlink sock_diag is refused here \(socket: EPROTONOSUPPORT\)/],
  ['no-inet-diag', /the kernel has no inet_diag for TCP .*ENOENT/],
];

for (const [fault, reason] of FAULTS) {
  describe(`when netlink cannot work (${fault})`, () => {
    const env = { TCPLENS_NETLINK_FAULT: fault };

    test('sockets reads /proc and says why in one line', async () => {
      const r = await runCli(['sockets', '--summary', '--json'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(isOneCleanLine(r.stderr), r.stderr);
      assert.match(r.stderr, /^tcplens: note: reading \/proc\/net\/tcp instead of netlink: /);
      assert.match(r.stderr, reason);
      const report = JSON.parse(r.stdout);
      assert.equal(report.source, 'proc');
      assert.match(report.fallback, reason);
      assert.ok(report.summary.total > 0);
    });

    test('--source netlink is one clear error line and exit 1', async () => {
      const r = await runCli(['sockets', '--source', 'netlink'], { env });
      assert.equal(r.code, 1);
      assert.ok(isOneCleanLine(r.stderr), r.stderr);
      assert.match(r.stderr, reason);
      assert.equal(r.stdout, '');
    });

    test('-i, which only netlink can answer, is one clear error line and exit 1', async () => {
      const r = await runCli(['sockets', '-i'], { env });
      assert.equal(r.code, 1);
      assert.ok(isOneCleanLine(r.stderr), r.stderr);
      assert.match(r.stderr, /--info needs netlink sock_diag, which cannot be used: /);
      assert.match(r.stderr, reason);
    });
  });
}

test('--source proc reads /proc without a note; -i with it is a usage error', async () => {
  const r = await runCli(['sockets', '--summary', '--json', '--source', 'proc']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(JSON.parse(r.stdout).source, 'proc');
  const bad = await runCli(['sockets', '-i', '--source', 'proc']);
  assert.equal(bad.code, 2);
  assert.ok(isOneCleanLine(bad.stderr), bad.stderr);
  assert.match(bad.stderr, /--info and --memory need --source netlink/);
  const wrong = await runCli(['sockets', '--source', 'ebpf']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--source takes one of auto, netlink, proc/);
});

test('the default is netlink, with no note', async () => {
  const r = await runCli(['sockets', '--summary', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(JSON.parse(r.stdout).source, 'netlink');
});

test('--watch says once why it reads /proc, not at every refresh', async () => {
  const child = spawn(
    process.execPath,
    [new URL('../../src/cli/main.ts', import.meta.url).pathname, 'sockets', '--summary', '--watch', '0.2'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TCPLENS_NETLINK_FAULT: 'refused' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  for (let i = 0; i < 100 && stdout.split('--- ').length < 4; i++) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  await once(child, 'close');
  assert.ok(stdout.split('--- ').length >= 4, 'at least three refreshes');
  assert.equal(stderr.match(/instead of netlink/g)?.length, 1, stderr);
});

describe('listeners', () => {
  test('-l shows every listener with its accept queue and maximum from netlink, without ss', async () => {
    const server = createServer();
    server.listen({ host: '127.0.0.1', port: 0, backlog: 37 });
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      // No ss on the PATH: the maximum must come from netlink itself.
      const env = { PATH: '/nonexistent' };
      const r = await runCli(['sockets', '-l', '--json'], { env });
      assert.equal(r.code, 0, r.stderr);
      const sockets = JSON.parse(r.stdout).sockets as {
        state: string;
        local: { port: number };
        rxQueue: number;
        acceptQueueMax: number | null;
      }[];
      assert.ok(sockets.every((s) => s.state === 'LISTEN'));
      assert.ok(
        sockets.every((s) => typeof s.acceptQueueMax === 'number'),
        'every listener has its maximum',
      );
      assert.equal(sockets.find((s) => s.local.port === port)?.acceptQueueMax, 37);
      const text = await runCli(['sockets', '-l', '--port', String(port)], { env });
      assert.match(text.stdout, /Accept-Q\s+Max/);
      assert.match(text.stdout, new RegExp(`LISTEN\\s+0\\s+37\\s+127\\.0\\.0\\.1:${port}`));
      const summary = await runCli(['sockets', '--summary', '--json', '--port', String(port)], { env });
      assert.equal(JSON.parse(summary.stdout).summary.listeners[0].maxQueue, 37);
      // The /proc fallback has no maximum without ss: unknown, not a guess.
      const proc = await runCli(['sockets', '-l', '--json', '--source', 'proc', '--port', String(port)], { env });
      assert.equal(JSON.parse(proc.stdout).sockets[0].acceptQueueMax, null);
    } finally {
      server.close();
    }
  });
});
