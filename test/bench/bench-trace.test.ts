// bench --trace: the resets on the target's port, whose and why, against tcpdump's count of the RSTs
// each side sent, with a server that aborts every tenth connection it serves a request on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BenchResult } from '../../src/model/bench-result.ts';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import { httpServer } from '../helpers/servers.ts';
import { has, tcpdump } from '../trace/live.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['bpftrace', 'tcpdump'] as const).find((c) => !has(c))
    ? 'needs bpftrace and tcpdump'
    : false;

test("bench --trace: the server's resets and this client's, as many as tcpdump sees from each side, with the kernel's reason", {
  skip,
}, async () => {
  const server = await httpServer((req, res, n) => {
    if (n % 10 === 0) req.socket.resetAndDestroy();
    else res.end('ok');
  });
  const rst = 'tcp[tcpflags] & tcp-rst != 0';
  const dumps: { stop(): Promise<number> }[] = [];
  try {
    const fromServer = await tcpdump(`${rst} and src port ${server.port}`);
    const toServer = await tcpdump(`${rst} and dst port ${server.port}`);
    dumps.push(fromServer, toServer);
    const r = await runCli(['bench', server.url, '-c', '2', '-n', '300', '-d', '20', '--trace', '--json'], {
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    // Late packets of the run's end, before counting.
    await new Promise((res) => setTimeout(res, 300));
    const [serverRsts = 0, clientRsts = 0] = await Promise.all(dumps.map((d) => d.stop()));
    const result = JSON.parse(r.stdout) as BenchResult;
    const t = result.resetsTraced!;
    assert.ok(t, r.stderr);
    const sentBy = (sender: string) => t.sent.filter((x) => x.sender === sender).reduce((a, x) => a + x.count, 0);
    assert.ok(serverRsts >= 25, `the server aborted: tcpdump saw ${serverRsts}`);
    assert.equal(sentBy('server'), serverRsts, JSON.stringify(t.sent));
    assert.equal(sentBy('client'), clientRsts, JSON.stringify(t.sent));
    const server1 = result.verdict.find((v) =>
      v.text.startsWith(`the server sent ${serverRsts} RSTs on port ${server.port} (traced)`),
    );
    assert.ok(server1, result.verdict.map((v) => v.text).join('\n'));
    // Every reason is a name (Linux 6.10+ gives one), and the abort is in ESTABLISHED.
    for (const x of t.sent.filter((s) => s.sender === 'server')) assert.match(x.reason, /^[A-Z_]+$/);
  } finally {
    await Promise.all(dumps.map((d) => d.stop()));
    await server.close();
  }
});

test('bench --trace without root: one line says why, the run and its verdict go on', {
  skip: !(isRoot && has('setpriv')) && 'needs root to drop to nobody',
}, async () => {
  const server = await httpServer((_req, res) => res.end('ok'));
  try {
    const r = await runCli(['bench', server.url, '-c', '1', '-n', '50', '--trace', '--json'], {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /^tcplens: --trace: .*root.*; the verdict counts resets without saying whose\n$/);
    assert.doesNotMatch(r.stderr, /--fallback/, 'no advice of an option bench does not have');
    const result = JSON.parse(r.stdout) as BenchResult;
    assert.equal(result.requests.ok, 50);
    assert.equal(result.resetsTraced, undefined);
  } finally {
    await server.close();
  }
});
