// Toxiproxy's own command-line client drives tcplens through every command it has (list, inspect,
// create, toggle, delete, toxic add/update/remove), and prints what it prints against the real
// toxiproxy-server. Skipped (with the reason) where the Toxiproxy binaries are absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createProxyServer } from '../../src/proxy/server.ts';
import { echoServer, freePort } from './helpers.ts';
import { TOXIPROXY_CLI as CLI, TOXIPROXY_SERVER, startToxiproxy } from './toxiproxy.ts';
const missing = [CLI, TOXIPROXY_SERVER].find((f) => !existsSync(f));

/** Not spawnSync: the tcplens API answering the client runs in this process's event loop. */
function run(url: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(CLI, ['--host', url, ...args], { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      // Bound ports differ between the two servers; everything else must not.
      const out = `${stdout}${stderr}`.replace(/127\.0\.0\.1:\d{4,5}/g, '127.0.0.1:PORT');
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out });
    });
  });
}

test('toxiproxy-cli drives tcplens through every command and prints what it prints against toxiproxy-server', {
  skip: missing && `no ${missing}`,
}, async () => {
  const echo = await echoServer();
  const real = await startToxiproxy();
  const ours = await createProxyServer({ api: '127.0.0.1:0' });
  // A fixed listen address, one per server (compared as 127.0.0.1:PORT).
  const listens = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const commands: string[][] = [
    ['list'],
    ['create', '--listen', '127.0.0.1:0', '--upstream', echo.address, 'web'],
    ['create', '--listen', '127.0.0.1:0', '--upstream', echo.address, 'web'],
    ['create', '--upstream', echo.address, 'nolisten-needs-flag'],
    ['list'],
    ['inspect', 'web'],
    ['inspect', 'nope'],
    [
      'toxic',
      'add',
      '--type',
      'latency',
      '--toxicName',
      'lag',
      '--attribute',
      'latency=100',
      '--attribute',
      'jitter=5',
      'web',
    ],
    ['toxic', 'add', '-t', 'bandwidth', '-n', 'bw', '--upstream', '--toxicity', '0.5', '-a', 'rate=100', 'web'],
    ['toxic', 'add', '-t', 'slicer', '-n', 'sl', '-a', 'average_size=1', '-a', 'size_variation=1000', 'web'],
    ['toxic', 'add', '-t', 'nosuch', '-n', 'x', 'web'],
    ['toxic', 'add', '-t', 'latency', '-n', 'lag', 'web'],
    ['inspect', 'web'],
    ['toxic', 'update', '--toxicName', 'lag', '--attribute', 'latency=50', 'web'],
    ['toxic', 'update', '-n', 'bw', '--toxicity', '1', 'web'],
    ['toxic', 'update', '-n', 'nope', '-a', 'latency=1', 'web'],
    ['inspect', 'web'],
    ['toxic', 'remove', '--toxicName', 'sl', 'web'],
    ['toxic', 'remove', '-n', 'sl', 'web'],
    ['toggle', 'web'],
    ['list'],
    ['toggle', 'web'],
    ['create', '--listen', 'LISTEN', '--upstream', echo.address, 'fixed'],
    ['inspect', 'fixed'],
    ['delete', 'fixed'],
    ['delete', 'fixed'],
    ['delete', 'web'],
    ['list'],
  ];
  const seen: string[] = [];
  try {
    for (const args of commands) {
      const theirs = await run(
        real.url,
        args.map((a) => (a === 'LISTEN' ? listens[0]! : a)),
      );
      const mine = await run(
        ours.apiUrl!,
        args.map((a) => (a === 'LISTEN' ? listens[1]! : a)),
      );
      assert.deepEqual(mine, theirs, `toxiproxy-cli ${args.join(' ')}`);
      seen.push(mine.out);
    }
    // What was compared says something: toxics listed with their attributes, failures reported.
    assert.ok(
      seen.some((o) =>
        /lag\ttype=latency\tstream=downstream\ttoxicity=1\.00\tattributes=\[\tjitter=5\tlatency=50\t\]/.test(o),
      ),
    );
    assert.ok(seen.some((o) => /HTTP 400: invalid toxic type/.test(o)));
  } finally {
    await real.close();
    await ours.close();
    await echo.close();
  }
});
