import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runCli, isOneCleanLine } from '../helpers/cli.ts';
import { connection, has, listen, streamCli } from './live.ts';

const isRoot = process.getuid?.() === 0;
// An unprivileged user, as a sysadmin without sudo would run it.
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const canDrop = isRoot && has('setpriv');

// Each test runs its own processes on its own ports: they run side by side.
describe('tcplens trace on the command line', { concurrency: true }, () => {
  test('bad options give one line and exit 2', async () => {
    const cases = [
      ['--port', '70000'],
      ['--port', '80,x'],
      ['--state', 'NOPE'],
      ['--events', 'state,packets'],
      ['--interval', '1'],
      ['--pid', 'abc'],
      ['--duration', 'soon'],
      ['--bogus'],
      ['--fallback', '--events', 'reset'],
    ];
    const results = await Promise.all(cases.map((args) => runCli(['trace', ...args])));
    for (const [i, r] of results.entries()) {
      const args = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneCleanLine(r.stderr), `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  test('--help shows examples', async () => {
    const r = await runCli(['trace', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /--no-fallback/);
  });

  test('without root and --no-fallback: one line that says why and what to do', { skip: !canDrop && 'needs root to drop to nobody' }, async () => {
    const r = await runCli(['trace', '--no-fallback', '--duration', '1'], { prefix: NOBODY });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /needs root/);
    assert.match(r.stderr, /sudo|--fallback/);
  });

  test('without root: says in one line that it samples instead, and samples', { skip: !canDrop && 'needs root to drop to nobody' }, async () => {
    const server = createServer((s) => s.on('error', () => {}).resume());
    const port = await listen(server);
    const cli = streamCli(['trace', '--json', '--interval', '50', '--port', String(port), '--duration', '1.5'], { prefix: NOBODY });
    const clients: number[] = [];
    try {
      // Connections that live 300 ms, one every 150 ms, until --duration ends the trace.
      const started = Date.now();
      const running: Promise<number>[] = [];
      while (cli.child.exitCode === null && Date.now() - started < 20_000) {
        running.push(connection('127.0.0.1', port, (s) => setTimeout(() => s.resume().end(), 300)));
        await new Promise((r) => setTimeout(r, 150));
      }
      clients.push(...(await Promise.all(running)));
      const code = await cli.stop();
      assert.equal(code, 0, cli.stderr());
      assert.ok(isOneCleanLine(cli.stderr()), cli.stderr());
      assert.match(cli.stderr(), /not root.*sampling \/proc\/net\/tcp every 50 ms/);
      const summary = cli.lines.at(-1)!;
      assert.equal(summary.type, 'summary');
      assert.equal(summary.backend, 'poll');
      const evs = cli.lines.slice(0, -1);
      assert.ok(evs.every((l) => l.sampled === true && l.type === 'state'));
      const mine = evs.filter((l) => clients.includes(l.sport as number) && l.dport === port);
      assert.ok(mine.some((l) => l.newState === 'ESTABLISHED'), JSON.stringify(evs.slice(0, 5)));
      assert.ok(mine.some((l) => l.newState === 'TIME_WAIT'));
    } finally {
      await cli.stop('SIGKILL');
      await new Promise((r) => server.close(r));
    }
  });

  test('without bpftrace: one line with the apt-get command, or the fallback', { skip: !isRoot && 'as root, so that the missing bpftrace is the only problem' }, async () => {
    const env = { TCPLENS_BPFTRACE: '/nonexistent/bpftrace' };
    const [refused, sampled] = await Promise.all([
      runCli(['trace', '--no-fallback', '--duration', '1'], { env }),
      runCli(['trace', '--json', '--duration', '0.3', '--port', '9'], { env }),
    ]);
    assert.equal(refused.code, 1);
    assert.ok(isOneCleanLine(refused.stderr), refused.stderr);
    assert.match(refused.stderr, /apt-get install -y bpftrace/);
    assert.equal(sampled.code, 0, sampled.stderr);
    assert.ok(isOneCleanLine(sampled.stderr), sampled.stderr);
    assert.match(sampled.stderr, /bpftrace is not installed.*sampling/);
    assert.equal(JSON.parse(sampled.stdout.trim().split('\n').at(-1)!).backend, 'poll');
  });
});
