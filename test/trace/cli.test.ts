import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { runCli, isOneCleanLine } from '../helpers/cli.ts';
import { connection, has, listen, streamCli } from './live.ts';

const isRoot = process.getuid?.() === 0;
// An unprivileged user, as a sysadmin without sudo would run it.
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const canDrop = isRoot && has('setpriv');
const canTrace = isRoot && has('bpftrace');

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
      // An empty filter would trace everything.
      ['--port', ''],
      ['--port', '80,'],
      ['--events', ''],
      ['--state', ' '],
      ['--pid', ''],
      ['--port', '0'],
    ];
    const results = await Promise.all(cases.map((args) => runCli(['trace', ...args])));
    for (const [i, r] of results.entries()) {
      const args = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneCleanLine(r.stderr), `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  test('says the same about every port out of range', async () => {
    const [zero, high] = await Promise.all([runCli(['trace', '--port', '0']), runCli(['trace', '--dport', '70000'])]);
    assert.equal(zero.stderr, 'tcplens: --port must be between 1 and 65535, not 0\n');
    assert.equal(high.stderr, 'tcplens: --dport must be between 1 and 65535, not 70000\n');
  });

  test('--help says that --state applies to every event', async () => {
    const r = await runCli(['trace', '--help']);
    assert.match(
      r.stdout.replace(/\s+/g, ' '),
      /--state <state> every event in this state: state changes from or to it, resets and retransmits/,
    );
  });

  test('--interval with bpftrace: a one-line notice that only the fallback samples', {
    skip: !canTrace && 'needs root and bpftrace',
  }, async () => {
    const r = await runCli(['trace', '--json', '--interval', '50', '--duration', '0.5', '--port', '9'], {
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /--interval applies only to sampling \/proc\/net\/tcp/);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').at(-1)!).backend, 'bpftrace');
  });

  test('bpftrace ending on its own: the summary of what it saw, then one line, exit 1', {
    skip: !canTrace && 'needs root and bpftrace',
  }, async () => {
    const server = createServer((s) => s.on('error', () => {}).resume());
    const port = await listen(server);
    const cli = streamCli(['trace', '--json', '--port', String(port)]);
    try {
      const clients: number[] = [];
      const seen = () => cli.lines.some((l) => clients.includes(l.sport as number));
      for (const deadline = Date.now() + 90_000; !seen(); await new Promise((r) => setTimeout(r, 300))) {
        if (Date.now() > deadline || cli.child.exitCode !== null)
          throw new Error(`trace did not start: ${cli.stderr()}`);
        clients.push(await connection('127.0.0.1', port, (s) => s.end()));
      }
      // Someone else stops it (SIGINT: bpftrace detaches and exits 0 as if all went well).
      const bpftrace = spawnSync('pgrep', ['-x', 'bpftrace', '-P', String(cli.child.pid)], {
        encoding: 'utf8',
      }).stdout.trim();
      assert.match(bpftrace, /^\d+$/, 'one bpftrace, a child of tcplens');
      process.kill(Number(bpftrace), 'SIGINT');
      const code = await cli.stop('SIGCONT'); // a signal that changes nothing: wait for the exit
      assert.equal(code, 1);
      assert.ok(isOneCleanLine(cli.stderr()), cli.stderr());
      assert.match(cli.stderr(), /bpftrace exited with 0 while tracing, so the trace ended early/);
      const summary = cli.lines.at(-1)!;
      assert.equal(summary.type, 'summary');
      assert.equal(cli.lines[0]!.type, 'start');
      const events = cli.lines.slice(1, -1);
      assert.ok(events.length > 0);
      assert.equal((summary.events as Record<string, number>).state, events.filter((l) => l.type === 'state').length);
    } finally {
      await cli.stop('SIGKILL');
      await new Promise((r) => server.close(r));
    }
  });

  test('a kernel without BTF: one line says drop and life events need it, the rest is traced', {
    skip: !canTrace && 'needs root and bpftrace',
  }, async () => {
    const r = await runCli(['trace', '--json', '--events', 'state,drop,life', '--duration', '0.5', '--port', '9'], {
      env: { TCPLENS_BTF: '/nonexistent/vmlinux' },
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /no drop events: they need the kernel's BTF.*; no life events: they need the kernel's BTF/);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // State changes alone are left: they come from the kernel's trace buffer, without bpftrace.
    assert.deepEqual([lines[0].type, lines.at(-1).type, lines.at(-1).backend], ['start', 'summary', 'tracefs']);
  });

  test('--fallback with resets asked for: one line says sampling will not report them', async () => {
    const r = await runCli([
      'trace',
      '--fallback',
      '--events',
      'state,reset',
      '--duration',
      '0.3',
      '--json',
      '--port',
      '9',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /sees only state changes: no reset events will be reported/);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
      ['start', 'summary'],
    );
  });

  test('--help shows examples', async () => {
    const r = await runCli(['trace', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /--no-fallback/);
  });

  test('without root and --no-fallback: one line that says why and what to do', {
    skip: !canDrop && 'needs root to drop to nobody',
  }, async () => {
    const r = await runCli(['trace', '--no-fallback', '--duration', '1'], { prefix: NOBODY });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, /needs root/);
    assert.match(r.stderr, /sudo|--fallback/);
  });

  test('without root: says in one line that it samples instead, and samples', {
    skip: !canDrop && 'needs root to drop to nobody',
  }, async () => {
    const server = createServer((s) => s.on('error', () => {}).resume());
    const port = await listen(server);
    const cli = streamCli(['trace', '--json', '--interval', '50', '--port', String(port), '--duration', '1.5'], {
      prefix: NOBODY,
    });
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
      assert.deepEqual([cli.lines[0]!.type, cli.lines[0]!.backend], ['start', 'poll']);
      const evs = cli.lines.slice(1, -1);
      assert.ok(evs.every((l) => l.sampled === true && l.type === 'state'));
      const mine = evs.filter((l) => clients.includes(l.sport as number) && l.dport === port);
      assert.ok(
        mine.some((l) => l.newState === 'ESTABLISHED'),
        JSON.stringify(evs.slice(0, 5)),
      );
      assert.ok(mine.some((l) => l.newState === 'TIME_WAIT'));
    } finally {
      await cli.stop('SIGKILL');
      await new Promise((r) => server.close(r));
    }
  });

  test('without bpftrace: one line with the apt-get command, or the fallback', {
    skip: !isRoot && 'as root, so that the missing bpftrace is the only problem',
  }, async () => {
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
