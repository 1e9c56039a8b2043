import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import {
  closedPort,
  connection,
  has,
  listen,
  pythonServer,
  refused,
  ssTimeWait,
  streamCli,
  tcpdump,
  type Streaming,
} from './live.ts';

type Line = Record<string, unknown>;
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : !has('bpftrace')
    ? 'bpftrace is not installed'
    : !has('tcpdump')
      ? 'tcpdump is not installed'
      : false;
const N = 20;

const key = (l: Line) => `${l.oldState}>${l.newState}${l.derived ? '*' : ''}`;
const states = (l: Line) => l.type === 'state';
const isEvent = (l: Line) => l.type !== 'summary' && l.type !== 'lost' && l.type !== 'start';
/** What ss shows now of the connections from a client port, for a failure message. */
const ssAbout = (port: number) =>
  spawnSync('ss', ['-tanH', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' }).stdout.trim() ||
  'nothing';

describe('trace through bpftrace, against tcpdump and ss', { skip }, () => {
  const servers: Server[] = [];
  let py: Awaited<ReturnType<typeof pythonServer>>;
  let all: Streaming; // every event on the test's ports
  let filtered: Streaming; // --pid of the Python server, --state TIME_WAIT
  let established: Streaming; // --state ESTABLISHED on every kind of event
  let allCode: number | null;
  let filteredCode: number | null;
  const ports = { open: 0, closed: 0, reset: 0, reset6: 0, halfReset: 0 };
  const clients = {
    open: [] as number[],
    reset: [] as number[],
    reset6: [] as number[],
    halfReset: [] as number[],
    clientFirst: [] as number[],
    serverFirst: [] as number[],
    halfClose: [] as number[],
    sentinel: [] as number[],
  };
  let tcpdumpRsts = 0;
  const window = { from: 0, to: 0 };
  let bpftracePids: number[] = [];
  let timeWait = new Set<string>();
  let dump: Awaited<ReturnType<typeof tcpdump>> | undefined;

  const server = async (host: string, onConnection: (s: Socket) => void, opts: { allowHalfOpen?: boolean } = {}) => {
    const s = createServer(opts, (sock) => {
      sock.on('error', () => {});
      onConnection(sock);
    });
    servers.push(s);
    return listen(s, host);
  };

  before(async () => {
    ports.open = await server('127.0.0.1', (s) => s.resume());
    ports.closed = await closedPort();
    // Reset on the client's first byte: a reset before the client's connect() returns would fail the connect itself.
    ports.reset = await server('127.0.0.1', (s) => s.once('data', () => s.resetAndDestroy()));
    ports.reset6 = await server('::1', (s) => s.once('data', () => s.resetAndDestroy()));
    // The client half-closes; the server answers its FIN with a reset, so the client's FIN_WAIT2 ends in CLOSE, not
    // TIME_WAIT. The reset waits out the delayed ACK of the FIN (40-200 ms), which moves the client to FIN_WAIT2.
    ports.halfReset = await server(
      '127.0.0.1',
      (s) => s.on('end', () => setTimeout(() => s.resetAndDestroy(), 250)).resume(),
      { allowHalfOpen: true },
    );
    py = await pythonServer();
    const mine = [ports.open, ports.closed, ports.reset, ports.reset6, ports.halfReset, py.port];
    all = streamCli(['trace', '--json', '--port', mine.join(',')]);
    filtered = streamCli([
      'trace',
      '--json',
      '--events',
      'state',
      '--port',
      String(py.port),
      '--pid',
      String(py.pid),
      '--state',
      'TIME_WAIT',
    ]);
    established = streamCli([
      'trace',
      '--json',
      '--port',
      [ports.closed, ports.reset, py.port].join(','),
      '--state',
      'ESTABLISHED',
    ]);

    // Ready when all see a connection the Python server closes first (its TIME_WAIT passes the first
    // two filters, its SYN_RECV → ESTABLISHED the third).
    const seen = (s: Streaming) =>
      s.lines.some((l) => l.sport === py.port && clients.sentinel.includes(l.dport as number));
    const deadline = Date.now() + 90_000;
    const streams = () => [all, filtered, established];
    while (!streams().every(seen)) {
      if (Date.now() > deadline)
        throw new Error(
          `trace did not start: ${streams()
            .map((s) => s.stderr())
            .join(' ')}`,
        );
      if (streams().some((s) => s.child.exitCode !== null))
        throw new Error(
          `trace exited: ${streams()
            .map((s) => s.stderr())
            .join(' ')}`,
        );
      clients.sentinel.push(await connection('127.0.0.1', py.port, (s) => s.resume().write('c')));
      await new Promise((r) => setTimeout(r, 300));
    }
    bpftracePids = streams().flatMap((s) =>
      spawnSync('pgrep', ['-P', String(s.child.pid)], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map(Number),
    );

    dump = await tcpdump(`tcp src port ${ports.closed} and tcp[tcpflags] & tcp-rst != 0`);
    window.from = Date.now();
    for (let i = 0; i < N; i++) clients.open.push(await connection('127.0.0.1', ports.open, (s) => s.resume().end()));
    for (let i = 0; i < N; i++) await refused('127.0.0.1', ports.closed);
    for (let i = 0; i < 3; i++)
      clients.reset.push(await connection('127.0.0.1', ports.reset, (s) => s.resume().write('x')));
    for (let i = 0; i < 3; i++)
      clients.reset6.push(await connection('::1', ports.reset6, (s) => s.resume().write('x')));
    clients.halfReset = await Promise.all(
      [1, 2, 3].map(() => connection('127.0.0.1', ports.halfReset, (s) => s.resume().end())),
    );
    for (let i = 0; i < 5; i++)
      clients.clientFirst.push(await connection('127.0.0.1', py.port, (s) => s.resume().end()));
    for (let i = 0; i < 5; i++)
      clients.serverFirst.push(await connection('127.0.0.1', py.port, (s) => s.resume().write('c')));
    // The server fills the socket, shuts down and closes 100 ms later, while the client reads only after 300 ms.
    for (let i = 0; i < 3; i++)
      clients.halfClose.push(
        await connection('127.0.0.1', py.port, (s) => (s.write('s'), setTimeout(() => s.resume(), 300))),
      );
    await new Promise((r) => setTimeout(r, 300)); // the last FINs and ACKs
    window.to = Date.now();
    tcpdumpRsts = await dump.stop();
    // The last FIN may still be on its way under load: give ss up to 3 s to list every TIME-WAIT expected.
    const expected = [
      ...clients.clientFirst.map((c) => `127.0.0.1:${c} 127.0.0.1:${py.port}`),
      ...clients.serverFirst.map((c) => `127.0.0.1:${py.port} 127.0.0.1:${c}`),
    ];
    for (const until = Date.now() + 3_000; ; await new Promise((r) => setTimeout(r, 100))) {
      timeWait = ssTimeWait();
      if (expected.every((e) => timeWait.has(e)) || Date.now() > until) break;
    }
    [allCode, filteredCode] = await Promise.all([
      all.stop('SIGINT'),
      filtered.stop('SIGTERM'),
      established.stop('SIGINT'),
    ]);
  });

  after(async () => {
    await dump?.stop();
    await Promise.all([all?.stop('SIGKILL'), filtered?.stop('SIGKILL'), established?.stop('SIGKILL')]);
    py?.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  const events = () => all.lines.filter(isEvent);

  test('reports each of 20 connections to an open port as SYN_SENT → ESTABLISHED, owned by the connecting process', () => {
    const mine = events().filter(
      (l) =>
        states(l) &&
        key(l) === 'SYN_SENT>ESTABLISHED' &&
        l.dport === ports.open &&
        clients.open.includes(l.sport as number),
    );
    assert.equal(mine.length, N);
    for (const l of mine) {
      assert.equal(l.pid, process.pid, 'the owner seen at connect(), not whatever task ran the softirq');
      assert.equal(l.family, 'ipv4');
      assert.equal(typeof l.ms, 'number');
    }
    // The accepting side: LISTEN → SYN_RECV on the listener's port, owned by the listener's process.
    const accepted = events().filter(
      (l) => key(l) === 'LISTEN>SYN_RECV' && l.sport === ports.open && clients.open.includes(l.dport as number),
    );
    assert.equal(accepted.length, N);
    assert.ok(accepted.every((l) => l.pid === process.pid));
  });

  test('counts as many resets sent from a closed port as tcpdump sees RST packets from it on lo', () => {
    const sent = events().filter((l) => {
      const t = Date.parse(l.time as string);
      return l.type === 'reset-sent' && l.sport === ports.closed && t >= window.from && t <= window.to;
    });
    assert.equal(tcpdumpRsts, N, 'tcpdump, the oracle, saw one RST per refused connection');
    assert.equal(sent.length, tcpdumpRsts);
    for (const l of sent) {
      assert.equal(l.oldState, null, 'no socket: the port is closed');
      assert.equal(l.pid, null);
      assert.equal(l.saddr, '127.0.0.1');
    }
    if (
      existsSync('/sys/kernel/tracing/events/tcp/tcp_send_reset/format') &&
      readFileSync('/sys/kernel/tracing/events/tcp/tcp_send_reset/format', 'utf8').includes('reason')
    ) {
      assert.ok(sent.every((l) => l.reason === 'NO_SOCKET'));
    }
    // Each refused client saw the RST arrive, in SYN_SENT.
    const received = events().filter(
      (l) => l.type === 'reset-received' && l.dport === ports.closed && sent.some((s) => s.dport === l.sport),
    );
    assert.equal(received.length, N);
  });

  test('shows a reset from resetAndDestroy() as received on the client side and sent on the server side, IPv4 and IPv6', () => {
    for (const [port, clientPorts, family, address] of [
      [ports.reset, clients.reset, 'ipv4', '127.0.0.1'],
      [ports.reset6, clients.reset6, 'ipv6', '::1'],
    ] as const) {
      for (const client of clientPorts) {
        const received = events().filter((l) => l.type === 'reset-received' && l.sport === client && l.dport === port);
        assert.equal(received.length, 1, `client ${client} → ${port}`);
        assert.equal(received[0]!.family, family);
        assert.equal(received[0]!.saddr, address);
        assert.equal(received[0]!.pid, process.pid);
        assert.equal(received[0]!.oldState, 'ESTABLISHED', 'read from the socket as the reset arrives');
        const sent = events().filter((l) => l.type === 'reset-sent' && l.sport === port && l.dport === client);
        assert.equal(sent.length, 1);
        // The kernel sets CLOSE before it sends an abort's reset, and forgets the owner there: both come from just before.
        assert.equal(sent[0]!.pid, process.pid, 'the server, this process');
        assert.equal(sent[0]!.oldState, 'ESTABLISHED');
        const clientEnd = events()
          .filter((l) => states(l) && l.sport === client && l.dport === port)
          .map(key);
        assert.deepEqual(clientEnd.slice(-1), ['ESTABLISHED>CLOSE']);
      }
    }
  });

  test('derives TIME_WAIT for the side that closes first, as ss confirms, and never after a reset', () => {
    const tw = (local: number, remote: number) =>
      events().filter((l) => states(l) && l.sport === local && l.dport === remote && l.newState === 'TIME_WAIT');
    for (const client of clients.clientFirst) {
      const mine = tw(client, py.port);
      assert.equal(mine.length, 1, `client ${client} closed first`);
      assert.equal(mine[0]!.derived, true);
      assert.equal(mine[0]!.oldState, 'FIN_WAIT2');
      assert.equal(mine[0]!.pid, process.pid);
      assert.equal(tw(py.port, client).length, 0, 'the passive closer has no TIME_WAIT');
      if (!timeWait.has(`127.0.0.1:${client} 127.0.0.1:${py.port}`))
        assert.fail(`ss lists the client end in TIME-WAIT; it shows ${ssAbout(client)}`);
      assert.deepEqual(
        events()
          .filter((l) => states(l) && l.sport === py.port && l.dport === client)
          .map(key)
          .slice(-2),
        ['CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE'],
      );
    }
    for (const client of clients.serverFirst) {
      const server = tw(py.port, client);
      assert.equal(server.length, 1, `server closed first towards ${client}`);
      assert.equal(server[0]!.derived, true);
      assert.equal(server[0]!.pid, py.pid, 'the Python server, a process of its own');
      assert.equal(tw(client, py.port).length, 0);
      if (!timeWait.has(`127.0.0.1:${py.port} 127.0.0.1:${client}`))
        assert.fail(`ss lists the server end in TIME-WAIT; it shows ${ssAbout(client)}`);
      assert.ok(!timeWait.has(`127.0.0.1:${client} 127.0.0.1:${py.port}`));
    }
    for (const client of clients.halfReset) {
      const end = events().filter((l) => l.sport === client && l.dport === ports.halfReset);
      assert.deepEqual(end.map((l) => (l.type === 'state' ? key(l) : l.type)).slice(-2), [
        'reset-received',
        'FIN_WAIT2>CLOSE',
      ]);
      assert.ok(
        !timeWait.has(`127.0.0.1:${client} 127.0.0.1:${ports.halfReset}`),
        'ss agrees: no TIME-WAIT after the reset',
      );
    }
  });

  test('prints events in the order the kernel made them, also when they came from different CPUs', () => {
    const times = all.lines.filter(isEvent).map((l) => Date.parse(l.time as string));
    assert.ok(times.length > 100);
    for (let i = 1; i < times.length; i++)
      assert.ok(times[i]! >= times[i - 1]!, `event ${i} is older than the one before it`);
    // On each server socket, the FIN that moved it to CLOSE_WAIT comes before its own close (LAST_ACK).
    for (const client of clients.clientFirst) {
      const server = events()
        .filter((l) => states(l) && l.sport === py.port && l.dport === client)
        .map(key);
      assert.deepEqual(server.slice(-3), ['ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
    }
  });

  test('shows close() after shutdown() as no change, and times FIN_WAIT1 from the shutdown', () => {
    for (const client of clients.halfClose) {
      const server = events().filter((l) => states(l) && l.sport === py.port && l.dport === client);
      assert.deepEqual(
        server.map(key).slice(-3),
        ['ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>TIME_WAIT*'],
        'no FIN_WAIT1 → FIN_WAIT1',
      );
      const [fin, acked] = server.slice(-3) as [Line, Line];
      const between = Date.parse(acked.time as string) - Date.parse(fin.time as string);
      // Times are whole ms: within 1.5 ms. Restarting the clock at close() would take 100 ms off.
      assert.ok(
        Math.abs((acked.ms as number) - between) < 1.5,
        `${acked.ms} ms in FIN_WAIT1, ${between} ms between the two lines`,
      );
      assert.ok((acked.ms as number) >= 250, 'the client read after 300 ms');
      assert.equal(acked.pid, py.pid);
    }
  });

  test('applies --state to resets and retransmits too: the state of their socket', () => {
    const evs = established.lines.filter(isEvent);
    for (const l of evs) assert.ok(l.oldState === 'ESTABLISHED' || l.newState === 'ESTABLISHED', JSON.stringify(l));
    // The aborts: sent by the server and received by the client, both in ESTABLISHED.
    for (const client of clients.reset) {
      assert.equal(
        evs.filter((l) => l.type === 'reset-sent' && l.sport === ports.reset && l.dport === client).length,
        1,
      );
      assert.equal(
        evs.filter((l) => l.type === 'reset-received' && l.sport === client && l.dport === ports.reset).length,
        1,
      );
    }
    // The closed port's resets (no socket) and the refused clients' (SYN_SENT) are in every trace but this one.
    const closed = (ls: Line[]) =>
      ls.filter(
        (l) =>
          (l.type === 'reset-sent' || l.type === 'reset-received') &&
          (l.sport === ports.closed || l.dport === ports.closed),
      );
    assert.equal(closed(events()).length, 2 * N);
    assert.equal(closed(evs).length, 0);
    assert.ok(evs.some((l) => key(l) === 'SYN_SENT>ESTABLISHED' && l.dport === py.port));
  });

  test('filters by pid and state in the kernel', () => {
    const evs = filtered.lines.filter(isEvent);
    assert.ok(evs.length > 0);
    for (const l of evs) {
      assert.equal(l.pid, py.pid);
      assert.equal(l.newState, 'TIME_WAIT');
      assert.equal(l.sport, py.port);
    }
    for (const client of clients.serverFirst) assert.equal(evs.filter((l) => l.dport === client).length, 1);
    for (const client of clients.clientFirst)
      assert.equal(evs.filter((l) => l.dport === client || l.sport === client).length, 0);
  });

  test('ends on SIGINT or SIGTERM with a summary line that adds up, and leaves no bpftrace behind', () => {
    assert.equal(allCode, 0, all.stderr());
    assert.equal(filteredCode, 0, filtered.stderr());
    assert.equal(all.stderr(), '', 'nothing on stderr when all went well');
    // The first line says when capture began, so a script knows when to start its traffic.
    assert.deepEqual([all.lines[0]!.type, all.lines[0]!.backend], ['start', 'bpftrace']);
    assert.equal(all.lines.filter((l) => l.type === 'start').length, 1);
    const summary = all.lines.at(-1)!;
    assert.equal(summary.type, 'summary');
    assert.equal(summary.backend, 'bpftrace');
    const counts = summary.events as Record<string, number>;
    assert.equal(counts.state, events().filter(states).length);
    assert.equal(counts['reset-sent'], events().filter((l) => l.type === 'reset-sent').length);
    const resets = summary.resets as Array<{ direction: string; port: number; count: number }>;
    assert.ok(resets.some((r) => r.direction === 'sent' && r.port === ports.closed && r.count >= N));
    assert.ok((summary.lifetimes as { count: number }).count >= N);
    // State changes alone (the filtered trace) come from a tracefs instance, without bpftrace.
    assert.equal(bpftracePids.length, 2, 'one bpftrace per trace that asks for more than state changes');
    for (const pid of bpftracePids) assert.ok(!existsSync(`/proc/${pid}`), `bpftrace ${pid} is gone`);
    const instances = readdirSync('/sys/kernel/tracing/instances');
    for (const s of [all, filtered, established])
      assert.deepEqual(
        instances.filter((n) => n.startsWith(`tcplens-${s.child.pid}-`)),
        [],
        'its tracefs instance is removed',
      );
  });
});
