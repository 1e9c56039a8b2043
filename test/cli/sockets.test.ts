import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { runCli, isOneCleanLine } from '../helpers/cli.ts';
import { hasSs, ssSockets, type SsSocket } from '../helpers/ss.ts';
import { scenarioPerSuite } from '../helpers/scenarios.ts';

interface JsonSocket {
  family: string;
  state: string;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  rxQueue: number;
  txQueue: number;
  inode: number;
  pid?: number;
  process?: string;
  acceptQueueMax?: number | null;
}

const ep = (e: { address: string; port: number }) => `${e.address}:${e.port}`;
const ssKey = (s: SsSocket) =>
  `${s.state} ${s.local} ${s.peer}${s.state === 'LISTEN' ? ` q=${s.recvQ}/${s.sendQ}` : ''}`;
const ourKey = (s: JsonSocket) =>
  `${s.state} ${ep(s.local)} ${ep(s.remote)}${s.state === 'LISTEN' ? ` q=${s.rxQueue}/${s.acceptQueueMax}` : ''}`;

function touches(ports: Set<number>, local: string, peer: string): boolean {
  const port = (x: string) => Number(x.slice(x.lastIndexOf(':') + 1));
  return ports.has(port(local)) || ports.has(port(peer));
}

for (const host of ['127.0.0.1', '::1']) {
  describe(`sockets on ${host}, compared with ss -tan`, { skip: !hasSs() && 'ss (iproute2) is not installed' }, () => {
    const suite = scenarioPerSuite(host);

    test('lists the same sockets as ss, state by state, with accept queues of listeners', async () => {
      // Sockets in transition (a SYN retransmitted, a FIN in flight) can differ between two reads:
      // compare when two ss reads around ours agree, trying a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        const before = ssSockets()
          .filter((s) => touches(suite.ports, s.local, s.peer))
          .map(ssKey)
          .sort();
        const r = await runCli(['sockets', '--json']);
        const afterSs = ssSockets()
          .filter((s) => touches(suite.ports, s.local, s.peer))
          .map(ssKey)
          .sort();
        assert.equal(r.code, 0, r.stderr);
        const ours = (JSON.parse(r.stdout).sockets as JsonSocket[])
          .filter((s) => suite.ports.has(s.local.port) || suite.ports.has(s.remote.port))
          .map(ourKey)
          .sort();
        if (JSON.stringify(before) !== JSON.stringify(afterSs)) continue;
        const c = suite.sc.counts;
        const listeners = 4;
        assert.ok(
          before.length >= listeners + c.established * 2 + c.timeWait + c.closeWait * 2,
          `too few sockets seen: ${before.length}`,
        );
        assert.deepEqual(ours, before);
        return;
      }
      assert.fail('ss never held still for a comparison');
    });

    test('counts each state as the scenario made them', async () => {
      const count = async (port: number, state: string) => {
        const r = await runCli(['sockets', '--port', String(port), '--json']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout).summary.byState[state] as number;
      };
      const c = suite.sc.counts;
      assert.equal(await count(suite.sc.ports.established, 'ESTABLISHED'), c.established * 2, 'both ends');
      assert.equal(
        await count(suite.sc.ports.timeWait, 'TIME_WAIT'),
        c.timeWait,
        'the client closed first and holds TIME_WAIT',
      );
      assert.equal(await count(suite.sc.ports.closeWait, 'CLOSE_WAIT'), c.closeWait, 'the server never closed');
      assert.equal(
        await count(suite.sc.ports.closeWait, 'FIN_WAIT2'),
        c.closeWait,
        'the clients wait for the server FIN',
      );
      const r = await runCli(['sockets', '--summary', '--json', '--port', String(suite.sc.ports.fullQueue)]);
      const listener = JSON.parse(r.stdout).summary.listeners[0];
      assert.equal(listener.queue, c.backlog + 1, 'an accept queue holds backlog + 1 connections');
      assert.equal(listener.maxQueue, c.backlog);
    });

    test('--by state and --state with ss aliases agree with ss', async () => {
      const r = await runCli([
        'sockets',
        '--port',
        String(suite.sc.ports.timeWait),
        '--state',
        'time-wait,estab',
        '--by',
        'state',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const groups = JSON.parse(r.stdout).groups as { key: string; count: number }[];
      const ss = ssSockets().filter((s) => touches(new Set([suite.sc.ports.timeWait]), s.local, s.peer));
      const expected = new Map<string, number>();
      for (const s of ss)
        if (s.state === 'TIME_WAIT' || s.state === 'ESTABLISHED')
          expected.set(s.state, (expected.get(s.state) ?? 0) + 1);
      assert.deepEqual(new Map(groups.map((g) => [g.key, g.count])), expected);
    });

    test('-p names this test process as the owner of the sockets it holds', async () => {
      const r = await runCli([
        'sockets',
        '-p',
        '--port',
        String(suite.sc.ports.established),
        '--state',
        'established',
        '--json',
      ]);
      const mine = JSON.parse(r.stdout).sockets as JsonSocket[];
      assert.equal(mine.length, suite.sc.counts.established * 2);
      const comm = readFileSync('/proc/self/comm', 'utf8').trim();
      const name = comm === 'MainThread' ? 'node' : comm; // Node 24 names its main thread
      for (const s of mine) {
        assert.equal(s.pid, process.pid);
        assert.equal(s.process, name);
      }
    });
  });
}

test('a dual-stack listener shows IPv4 peers as IPv4 addresses with family ipv6', async () => {
  const server = createServer((s) => s.on('error', () => {}));
  server.listen({ host: '::', port: 0, ipv6Only: false });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port });
  try {
    await once(client, 'connect');
    await new Promise((r) => setTimeout(r, 50));
    const r = await runCli(['sockets', '--port', String(port), '--state', 'established', '--json']);
    const socks = JSON.parse(r.stdout).sockets as JsonSocket[];
    const serverSide = socks.find((s) => s.local.port === port)!;
    assert.equal(serverSide.family, 'ipv6');
    assert.equal(serverSide.remote.address, '127.0.0.1');
    assert.equal(serverSide.local.address, '127.0.0.1');
  } finally {
    client.destroy();
    server.close();
  }
});

describe('bad input', () => {
  const cases: [string[], number, RegExp][] = [
    [['sockets', '--state', 'half-open'], 2, /unknown TCP state 'half-open'/],
    [['sockets', '--port', '70000'], 2, /--port must be between 0 and 65535/],
    [['sockets', '--port', 'http'], 2, /--port takes a whole number/],
    [['sockets', '--by', 'color'], 2, /--by takes one of state, lport, rport, peer, process/],
    [['sockets', '--peer', 'not-an-ip'], 2, /--peer takes an IP address/],
    [['sockets', '--top', '0'], 2, /--top must be between/],
    [['sockets', '--watch', 'soon'], 2, /--watch takes seconds/],
    [['sockets', '--no-such-flag'], 2, /unknown option '--no-such-flag'/],
    // commander puts its suggestion on a second line; it must join the first.
    [['sockets', '--summry'], 2, /unknown option '--summry' \(Did you mean --summary\?\)/],
  ];
  for (const [args, code, message] of cases) {
    test(`${args.slice(1).join(' ')} → exit ${code} with one line`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, code);
      assert.match(r.stderr, message);
      assert.ok(isOneCleanLine(r.stderr), `one clean line, got: ${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  }

  test('a host without /proc/net (not Linux) → exit 1 with one line', async () => {
    const r = await runCli(['sockets', '--summary'], { env: { TCPLENS_PROC: '/nonexistent-proc' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not exist: tcplens needs Linux with \/proc mounted/);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
  });

  test('an unreadable table → exit 1 with one line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tcplens-proc-'));
    try {
      // A directory where the file should be: read() fails with EISDIR even for root.
      mkdirSync(join(root, 'net', 'tcp'), { recursive: true });
      mkdirSync(join(root, 'sys', 'net', 'ipv4'), { recursive: true });
      copyFileSync('/proc/sys/net/ipv4/ip_local_port_range', join(root, 'sys', 'net', 'ipv4', 'ip_local_port_range'));
      const r = await runCli(['sockets'], { env: { TCPLENS_PROC: root } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot read .*net\/tcp/);
      assert.ok(isOneCleanLine(r.stderr), r.stderr);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

test('--watch refreshes until stopped, with a timestamped separator when not on a terminal', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [new URL('../../src/cli/main.ts', import.meta.url).pathname, 'sockets', '--summary', '--watch', '0.2'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const framesOf = (text: string) => text.split('\n').filter((l) => /^--- \d{4}-\d\d-\d\dT/.test(l));
  // Stopped once two refreshes are out (bounded): a busy machine takes seconds to start the CLI.
  for (let i = 0; i < 1200 && framesOf(stdout).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  await once(child, 'close');
  const frames = framesOf(stdout);
  assert.ok(frames.length >= 2, `expected at least 2 refreshes, got ${frames.length}`);
  assert.ok(stdout.includes('TCP sockets:'));
});
