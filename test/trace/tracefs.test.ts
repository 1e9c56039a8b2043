import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { removeStaleInstances } from '../../src/kernel/tracefs-instance.ts';
import { closedPort, connection, has, listen, pythonServer, refused, streamCli, type Streaming } from './live.ts';

const TRACEFS = '/sys/kernel/tracing';
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !existsSync(`${TRACEFS}/instances`) ? 'needs tracefs instances' : false;

const instancesOf = (pid: number | undefined) =>
  readdirSync(`${TRACEFS}/instances`).filter((n) => n.startsWith(`tcplens-${pid}-`));

/** The transitions of each connection a trace saw, by client port: "OLD>NEW" in order (grouped by socket: a client's first change has no port yet). */
function byClient(s: Streaming, serverPort: number): Map<number, string[]> {
  const bySocket = new Map<string, { client: number; list: string[] }>();
  const all: { client: number; list: string[] }[] = [];
  for (const l of s.lines) {
    if (l.type !== 'state') continue;
    // The kernel reuses a freed socket's address: a connection's first change starts a new one.
    const first = l.newState === 'SYN_SENT' || l.newState === 'SYN_RECV';
    let sock = bySocket.get(l.sk as string);
    if (!sock || first) all.push((sock = { client: 0, list: [] }));
    const client = l.sport === serverPort ? (l.dport as number) : (l.sport as number);
    if (client !== 0 && l.oldState !== 'LISTEN' && l.newState !== 'LISTEN') sock.client = client;
    sock.list.push(`${l.oldState}>${l.newState}`);
    bySocket.set(l.sk as string, sock);
  }
  const out = new Map<number, string[]>();
  for (const { client, list } of all) out.set(client, [...(out.get(client) ?? []), ...list]);
  return out;
}

// What a loopback connection whose client closes first goes through, both ends (the order of the two
// ends' events interleaves; each end's own order is fixed).
const CLIENT = [
  'CLOSE>SYN_SENT',
  'SYN_SENT>ESTABLISHED',
  'ESTABLISHED>FIN_WAIT1',
  'FIN_WAIT1>FIN_WAIT2',
  'FIN_WAIT2>TIME_WAIT',
];
const SERVER = [
  'LISTEN>SYN_RECV',
  'SYN_RECV>ESTABLISHED',
  'ESTABLISHED>CLOSE_WAIT',
  'CLOSE_WAIT>LAST_ACK',
  'LAST_ACK>CLOSE',
];

test('two traces at once through tracefs: each sees every change of its own port and none of the other, and each removes its own instance', {
  skip,
}, async () => {
  const servers = [
    createServer((s) => s.resume().on('end', () => s.end())),
    createServer((s) => s.resume().on('end', () => s.end())),
  ];
  const ports = await Promise.all(servers.map((s) => listen(s)));
  // A dead tcplens's instance, left by a SIGKILL: the next trace removes it.
  const stale = `${TRACEFS}/instances/tcplens-999999-1`;
  if (!existsSync(stale)) mkdirSync(stale);
  const traces = ports.map((p) => streamCli(['trace', '--json', '--events', 'state', '--port', String(p)]));
  try {
    await Promise.all(traces.map((t) => t.waitFor((l) => l.type === 'start', 60_000)));
    for (const t of traces) {
      assert.equal(t.lines[0]!.backend, 'tracefs', t.stderr());
      assert.equal(instancesOf(t.child.pid).length, 1, 'one instance per trace');
    }
    assert.ok(!existsSync(stale), 'the dead process instance is gone');
    const N = 20;
    const clients: number[][] = [[], []];
    for (let i = 0; i < N; i++) {
      for (const [k, p] of ports.entries()) clients[k]!.push(await connection('127.0.0.1', p, (s) => s.resume().end()));
    }
    for (const [k, t] of traces.entries()) {
      const last = clients[k]!.at(-1)!;
      await t.waitFor((l) => l.sport === ports[k] && l.dport === last && l.newState === 'CLOSE', 20_000);
    }
    // The first stops while the second keeps tracing: its instance goes, the other's stays and works.
    assert.equal(await traces[0]!.stop('SIGTERM'), 0, traces[0]!.stderr());
    assert.deepEqual(instancesOf(traces[0]!.child.pid), []);
    assert.equal(instancesOf(traces[1]!.child.pid).length, 1);
    const after = await connection('127.0.0.1', ports[1]!, (s) => s.resume().end());
    await traces[1]!.waitFor((l) => l.sport === ports[1] && l.dport === after && l.newState === 'CLOSE', 20_000);
    clients[1]!.push(after);
    assert.equal(await traces[1]!.stop('SIGINT'), 0, traces[1]!.stderr());
    assert.deepEqual(instancesOf(traces[1]!.child.pid), []);

    for (const [k, t] of traces.entries()) {
      assert.equal(t.stderr(), '', 'nothing on stderr');
      const seen = byClient(t, ports[k]!);
      assert.deepEqual([...seen.keys()].sort(), [...clients[k]!].sort(), `trace ${k}: exactly its own connections`);
      for (const [client, list] of seen) {
        assert.deepEqual(
          list.filter((x) => CLIENT.includes(x)),
          CLIENT,
          `trace ${k}, client ${client}: ${list}`,
        );
        assert.deepEqual(
          list.filter((x) => SERVER.includes(x)),
          SERVER,
          `trace ${k}, client ${client}: ${list}`,
        );
        assert.equal(list.length, 10);
      }
      const states = t.lines.filter((l) => l.type === 'state');
      // In kernel order; owners as bpftrace gives them: the client's process for its own end, the
      // listener's (from before the trace) for the accepted one; both are this process.
      const times = states.map((l) => Date.parse(l.time as string));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
      );
      for (const l of states) assert.equal(l.pid, process.pid, JSON.stringify(l));
      const summary = t.lines.at(-1)!;
      assert.equal(summary.type, 'summary');
      assert.equal(summary.backend, 'tracefs');
      assert.equal(summary.lostEvents, 0);
      assert.equal((summary.events as { state: number }).state, states.length);
    }
  } finally {
    for (const t of traces) await t.stop('SIGKILL');
    for (const s of servers) s.close();
  }
});

test('state changes from tracefs are those bpftrace reports for the same connections: owners, ends, states, TIME_WAIT hand-offs, sockets, times in state', {
  skip: skip || (!has('bpftrace') && 'needs bpftrace') || (!has('python3') && 'needs python3'),
}, async () => {
  const py = await pythonServer();
  const closed = await closedPort();
  // Aborts go to a server of our own (the Python one ends on a reset).
  const node = createServer((s) => s.resume().on('error', () => {}));
  const nodePort = await listen(node);
  const ports = `${py.port},${closed},${nodePort}`;
  const traces = [
    streamCli(['trace', '--json', '--events', 'state', '--port', ports]),
    streamCli(['trace', '--json', '--events', 'state', '--port', ports], { env: { TCPLENS_TRACEFS: '0' } }),
  ];
  try {
    await Promise.all(traces.map((t) => t.waitFor((l) => l.type === 'start', 90_000)));
    assert.deepEqual(
      traces.map((t) => t.lines[0]!.backend),
      ['tracefs', 'bpftrace'],
    );
    const clients: number[] = [];
    for (let i = 0; i < 5; i++) {
      // The client closes first (its TIME_WAIT), the server first, and an abort (a reset: no TIME_WAIT).
      clients.push(await connection('127.0.0.1', py.port, (s) => s.resume().end()));
      clients.push(await connection('127.0.0.1', py.port, (s) => s.resume().write('c')));
      await connection('127.0.0.1', nodePort, (s) => setTimeout(() => s.resetAndDestroy(), 20));
      await refused('127.0.0.1', closed);
    }
    // The last connection was closed by the server first: its client's LAST_ACK → CLOSE ends it.
    const last = clients.at(-1)!;
    for (const t of traces) await t.waitFor((l) => l.sport === last && l.newState === 'CLOSE', 20_000);
    // The refused connections' last change, too.
    await new Promise((r) => setTimeout(r, 500));
    for (const t of traces) assert.equal(await t.stop('SIGINT'), 0, t.stderr());
    const shape = (t: Streaming) =>
      t.lines
        .filter((l) => l.type === 'state')
        .map((l) =>
          [
            l.pid,
            l.comm,
            l.family,
            `${l.saddr}:${l.sport}`,
            `${l.daddr}:${l.dport}`,
            `${l.oldState}>${l.newState}`,
            l.derived ?? false,
            l.sk,
          ].join(' '),
        );
    const [ours, theirs] = traces.map(shape);
    assert.ok(theirs!.length >= 5 * 3 * 8, `bpftrace saw ${theirs!.length}`);
    assert.deepEqual([...ours!].sort(), [...theirs!].sort());
    assert.ok(ours!.some((l) => l.includes('>TIME_WAIT true')));
    assert.ok(ours!.some((l) => l.startsWith(`${py.pid} python3`)));
    // Times in the old state: the same within a millisecond (each from its own clock reads).
    const ms = (t: Streaming) =>
      new Map(
        t.lines
          .filter((l) => l.type === 'state')
          .map((l) => [`${l.sk} ${l.oldState}>${l.newState} ${l.sport} ${l.dport}`, l.ms as number | null]),
      );
    const [a, b] = traces.map(ms);
    for (const [key, v] of a!) {
      const w = b!.get(key);
      if (v === null || w === null || w === undefined) assert.equal(v, w ?? null, key);
      else assert.ok(Math.abs(v - w) < 1, `${key}: ${v} vs ${w} ms`);
    }
  } finally {
    for (const t of traces) await t.stop('SIGKILL');
    py.close();
    node.close();
  }
});

test('SIGHUP (a closed terminal) ends a tracefs trace as Ctrl-C does, its instance removed; an instance named with our pid that this process did not make is stale', {
  skip,
}, async () => {
  // Pids repeat across pid namespaces: another container's tcplens, or one before a reboot, may have had ours.
  const stale = `${TRACEFS}/instances/tcplens-${process.pid}-77-0badcafe`;
  if (!existsSync(stale)) mkdirSync(stale);
  assert.ok(removeStaleInstances(TRACEFS).includes(`tcplens-${process.pid}-77-0badcafe`));
  assert.ok(!existsSync(stale));
  const server = createServer((s) => s.resume().on('end', () => s.end()));
  const port = await listen(server);
  const t = streamCli(['trace', '--json', '--events', 'state', '--port', String(port)]);
  try {
    await t.waitFor((l) => l.type === 'start', 60_000);
    assert.equal(instancesOf(t.child.pid).length, 1);
    const client = await connection('127.0.0.1', port, (s) => s.resume().end());
    await t.waitFor((l) => l.sport === port && l.dport === client && l.newState === 'CLOSE', 20_000);
    assert.equal(await t.stop('SIGHUP'), 0, t.stderr());
    assert.deepEqual(instancesOf(t.child.pid), []);
    assert.equal(t.lines.at(-1)!.type, 'summary', 'stopped through the same path as Ctrl-C');
  } finally {
    await t.stop('SIGKILL');
    server.close();
  }
});

test('when the tracefs instance fails with other events asked for, bpftrace takes the state changes too, says so in one line, and nothing is left behind', {
  skip: skip || (!has('bpftrace') && 'needs bpftrace'),
}, async () => {
  const server = createServer((s) => s.resume().on('end', () => s.end()));
  const port = await listen(server);
  const t = streamCli(['trace', '--json', '--events', 'state,reset', '--port', String(port)], {
    env: { TCPLENS_TRACEFS: 'fault' },
  });
  try {
    await t.waitFor((l) => l.type === 'start', 90_000);
    assert.equal(t.lines[0]!.backend, 'bpftrace');
    assert.match(
      t.stderr(),
      /state changes go through bpftrace: cannot open a tracefs instance .*: the instance cannot be set up/,
    );
    assert.equal(t.stderr().trim().split('\n').length, 1, t.stderr());
    assert.deepEqual(instancesOf(t.child.pid), []);
    const client = await connection('127.0.0.1', port, (s) => s.resume().end());
    await t.waitFor((l) => l.sport === port && l.dport === client && l.newState === 'CLOSE', 20_000);
    assert.equal(await t.stop('SIGINT'), 0, t.stderr());
  } finally {
    await t.stop('SIGKILL');
    server.close();
  }
});
