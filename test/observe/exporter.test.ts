import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { startExporter, type Exporter } from '../../src/observe/exporter-server.ts';
import { parseListen } from '../../src/cli/options.ts';
import { UsageError } from '../../src/errors.ts';
import { createScenario, type Scenario } from '../helpers/scenarios.ts';
import { ssSockets, type SsSocket } from '../helpers/ss.ts';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import {
  hasPromtool,
  parseExposition,
  promtoolCheckMetrics,
  sampleValue,
  type Exposition,
} from '../helpers/prom-text.ts';

let exporter: Exporter;
let v4: Scenario;
let v6: Scenario | undefined;
let serverClose: { port: number; server: Server };
const SERVER_CLOSES = 7;

async function scrape(url = exporter.url): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** TIME_WAIT on the server's side: the server closes each connection first. */
async function serverClosesFirst(n: number): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.end();
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  for (let i = 0; i < n; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    c.resume();
    await once(c, 'end');
    c.end();
    await once(c, 'close');
  }
  return { port, server };
}

function nstat(name: string): number {
  const out = execFileSync('nstat', ['-asz', name], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `nstat knows ${name}`);
  return Number(line.trim().split(/\s+/)[1]);
}

const port = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
const count = (ss: SsSocket[], pred: (s: SsSocket) => boolean) => ss.filter(pred).length;

before(async () => {
  // No sharing window here: each test scrapes right after making its sockets.
  exporter = await startExporter({ port: 0, topN: 1000, findingsIntervalMs: 300, minIntervalMs: 0 });
});

after(async () => {
  await exporter?.close();
  await v4?.close();
  await v6?.close();
  if (serverClose) await new Promise((r) => serverClose.server.close(r));
});

test('a scrape passes promtool check metrics, lint included', {
  skip: !hasPromtool() && 'promtool not installed',
}, async () => {
  const text = await scrape();
  const r = promtoolCheckMetrics(text);
  assert.equal(r.output, '', `promtool said: ${r.output}`);
  assert.equal(r.status, 0);
});

test("per-port gauges, listen queues and ephemeral use agree with ss for the test's own sockets", async () => {
  const overflowsBefore = nstat('TcpExtListenOverflows');
  v4 = await createScenario('127.0.0.1', { established: 6, timeWait: 25, closeWait: 3, queued: 8, backlog: 3 });
  serverClose = await serverClosesFirst(SERVER_CLOSES);
  const { ports } = v4;

  // ss and the scrape are a few ms apart; sockets of other tests may come and go on other ports,
  // ours are steady (TIME_WAIT lasts 60 s). Retry once if ss itself saw them move.
  let ss: SsSocket[] = [];
  let e: Exposition | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const a = ssSockets();
    e = parseExposition(await scrape());
    const b = ssSockets();
    const mine = (x: SsSocket[]) =>
      JSON.stringify(
        x
          .filter(
            (s) =>
              Object.values(ports).includes(port(s.local)) ||
              Object.values(ports).includes(port(s.peer)) ||
              port(s.local) === serverClose.port,
          )
          .map((s) => `${s.state} ${s.local} ${s.peer} ${s.recvQ} ${s.sendQ}`)
          .sort(),
      );
    ss = b;
    if (mine(a) === mine(b)) break;
  }
  assert.ok(e);
  const gauge = (name: string, labels: Record<string, string>) => sampleValue(e!, name, labels) ?? 0;

  // TIME_WAIT on the client side, towards the scenario's port.
  const twTowards = count(ss, (s) => s.state === 'TIME_WAIT' && port(s.peer) === ports.timeWait);
  assert.ok(twTowards >= v4.counts.timeWait, `ss sees our ${v4.counts.timeWait} TIME_WAIT (${twTowards})`);
  assert.equal(
    gauge('tcplens_sockets_by_remote_port', { state: 'TIME_WAIT', port: String(ports.timeWait) }),
    twTowards,
  );
  // TIME_WAIT on the server side, on its listening port.
  const twOn = count(ss, (s) => s.state === 'TIME_WAIT' && port(s.local) === serverClose.port);
  assert.ok(twOn >= SERVER_CLOSES, `ss sees the server-side TIME_WAIT (${twOn})`);
  assert.equal(gauge('tcplens_sockets_by_local_port', { state: 'TIME_WAIT', port: String(serverClose.port) }), twOn);
  // ESTABLISHED: accepted on the listening port, and opened towards it.
  const estOn = count(ss, (s) => s.state === 'ESTABLISHED' && port(s.local) === ports.established);
  const estTo = count(ss, (s) => s.state === 'ESTABLISHED' && port(s.peer) === ports.established);
  assert.equal(estOn, v4.counts.established);
  assert.equal(
    gauge('tcplens_sockets_by_local_port', { state: 'ESTABLISHED', port: String(ports.established) }),
    estOn,
  );
  assert.equal(
    gauge('tcplens_sockets_by_remote_port', { state: 'ESTABLISHED', port: String(ports.established) }),
    estTo,
  );

  // Ephemeral ports towards the TIME_WAIT destination (every state but LISTEN).
  const towards = count(ss, (s) => s.state !== 'LISTEN' && s.peer === `127.0.0.1:${ports.timeWait}`);
  assert.equal(
    gauge('tcplens_ephemeral_ports_by_destination', { destination: `127.0.0.1:${ports.timeWait}` }),
    towards,
  );

  // The never-accepting listener: ss's Recv-Q is the queue, Send-Q its maximum (backlog 3).
  const listener = ss.find((s) => s.state === 'LISTEN' && port(s.local) === ports.fullQueue);
  assert.ok(listener);
  assert.equal(listener.sendQ, v4.counts.backlog);
  assert.equal(listener.recvQ, v4.counts.backlog + 1, 'the queue holds backlog + 1');
  const labels = { address: '127.0.0.1', port: String(ports.fullQueue) };
  assert.equal(sampleValue(e, 'tcplens_listen_queue', labels), listener.recvQ);
  assert.equal(sampleValue(e, 'tcplens_listen_queue_max', labels), listener.sendQ);
  assert.equal(
    sampleValue(e, 'tcplens_listeners', { ...labels, process: 'python3' }),
    1,
    'one listening socket, owned by python3',
  );

  // Each breakdown adds up to the state's total, "other" included.
  for (const state of ['TIME_WAIT', 'ESTABLISHED']) {
    const total: number = e!.samples
      .filter((s) => s.name === 'tcplens_sockets' && s.labels.state === state)
      .reduce((n, s) => n + s.value, 0);
    for (const name of ['tcplens_sockets_by_remote_port', 'tcplens_sockets_by_local_port', 'tcplens_sockets_by_peer']) {
      const sum: number = e!.samples
        .filter((s) => s.name === name && s.labels.state === state)
        .reduce((n, s) => n + s.value, 0);
      assert.equal(sum, total, `${name}{state=${state}} sums to tcplens_sockets`);
    }
  }

  // The counter is the kernel's own total: between two readings of nstat, and moved by our overflow.
  const overflows = sampleValue(e, 'tcplens_tcpext_listen_overflows_total');
  const overflowsAfter = nstat('TcpExtListenOverflows');
  assert.ok(overflows !== undefined);
  assert.ok(
    overflowsBefore <= overflows && overflows <= overflowsAfter,
    `${overflowsBefore} <= ${overflows} <= ${overflowsAfter}`,
  );
  assert.ok(overflowsAfter > overflowsBefore, '8 connections to a backlog of 3 overflowed');
});

test('IPv6 sockets are counted under family ipv6 and by their peer address', async (t) => {
  try {
    v6 = await createScenario('::1', { established: 3, timeWait: 5, closeWait: 1, queued: 2, backlog: 1 });
  } catch {
    return t.skip('no IPv6 loopback here');
  }
  const ss = ssSockets();
  const e = parseExposition(await scrape());
  const twTowards = count(ss, (s) => s.state === 'TIME_WAIT' && s.peer === `::1:${v6!.ports.timeWait}`);
  assert.ok(twTowards >= 5);
  assert.equal(
    sampleValue(e, 'tcplens_sockets_by_remote_port', { state: 'TIME_WAIT', port: String(v6.ports.timeWait) }),
    twTowards,
  );
  assert.equal(
    sampleValue(e, 'tcplens_ephemeral_ports_by_destination', { destination: `[::1]:${v6.ports.timeWait}` }),
    twTowards,
  );
  assert.ok((sampleValue(e, 'tcplens_sockets', { state: 'ESTABLISHED', family: 'ipv6' }) ?? 0) >= 6);
  assert.ok((sampleValue(e, 'tcplens_sockets_by_peer', { state: 'TIME_WAIT', peer: '::1' }) ?? 0) >= 5);
  assert.ok(!e.samples.some((s) => s.labels.peer?.startsWith('::ffff:')), 'IPv4-mapped peers are shown as IPv4');
});

test('every state is exported for both families, zeros included, and kernel counters are typed right', async () => {
  const e = parseExposition(await scrape());
  const states = e.samples.filter((s) => s.name === 'tcplens_sockets');
  assert.equal(states.length, 13 * 2);
  assert.equal(e.types.get('tcplens_tcpext_listen_overflows_total'), 'counter');
  assert.equal(e.types.get('tcplens_tcp_retrans_segs_total'), 'counter');
  assert.equal(e.types.get('tcplens_tcpext_tw_total'), 'counter');
  assert.equal(e.types.get('tcplens_tcpext_tcp_abort_on_data_total'), 'counter');
  assert.equal(e.types.get('tcplens_tcpext_tcp_req_q_full_drop_total'), 'counter');
  assert.equal(e.types.get('tcplens_tcp_curr_estab'), 'gauge', 'CurrEstab is a level');
  assert.equal(e.types.get('tcplens_tcp_max_conn'), 'gauge');
  assert.equal(e.types.get('tcplens_sockstat_tcp_tw'), 'gauge');
  assert.equal(e.types.get('tcplens_sysctl_net_core_somaxconn'), 'gauge');
  const somaxconn = Number(execFileSync('sysctl', ['-n', 'net.core.somaxconn'], { encoding: 'utf8' }));
  assert.equal(sampleValue(e, 'tcplens_sysctl_net_core_somaxconn'), somaxconn);
  const [low, high] = execFileSync('sysctl', ['-n', 'net.ipv4.ip_local_port_range'], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)
    .map(Number);
  assert.equal(sampleValue(e, 'tcplens_sysctl_net_ipv4_ip_local_port_range_low'), low);
  assert.equal(sampleValue(e, 'tcplens_sysctl_net_ipv4_ip_local_port_range_high'), high);
  for (const [name, type] of e.types) {
    if (type === 'counter') assert.match(name, /_total$/, `${name} is a counter named _total`);
    else assert.doesNotMatch(name, /_total$/, `${name} (${type}) is not named like a counter`);
  }
});

test('counters never go down between scrapes', async () => {
  const first = parseExposition(await scrape());
  // Some traffic of our own in between, so that counters move.
  const moved = await serverClosesFirst(3);
  await new Promise((r) => moved.server.close(r));
  const second = parseExposition(await scrape());
  let checked = 0;
  for (const [name, type] of first.types) {
    if (type !== 'counter') continue;
    const a = sampleValue(first, name);
    const b = sampleValue(second, name);
    assert.ok(a !== undefined && b !== undefined, name);
    assert.ok(b >= a, `${name}: ${a} then ${b}`);
    checked++;
  }
  assert.ok(checked > 50, `${checked} counters checked`);
  assert.ok(
    sampleValue(second, 'tcplens_tcp_active_opens_total')! >= sampleValue(first, 'tcplens_tcp_active_opens_total')! + 3,
  );
});

test('concurrent scrapes share one sample; a later scrape takes a new one', async () => {
  const shared = await startExporter({ port: 0 }); // the default sharing window
  try {
    const bodies = await Promise.all(Array.from({ length: 5 }, () => scrape(shared.url)));
    for (const b of bodies) assert.equal(b, bodies[0], 'same text for every concurrent scrape');
    const first = parseExposition(bodies[0]!);
    await new Promise((r) => setTimeout(r, 600));
    const later = parseExposition(await scrape(shared.url));
    assert.ok(
      sampleValue(later, 'tcplens_sample_timestamp_seconds')! > sampleValue(first, 'tcplens_sample_timestamp_seconds')!,
      'a new sample',
    );
  } finally {
    await shared.close();
  }
});

test("doctor's findings are exported by id and severity, with a count for every severity", async () => {
  await new Promise((r) => setTimeout(r, 350)); // past the findings interval
  const e = parseExposition(await scrape());
  for (const sev of ['critical', 'warning', 'info', 'ok'])
    assert.ok(sampleValue(e, 'tcplens_doctor_findings', { severity: sev }) !== undefined, sev);
  const findings = e.samples.filter((s) => s.name === 'tcplens_doctor_finding');
  const bySeverity = (sev: string) =>
    findings.filter((f) => f.labels.severity === sev).reduce((n, f) => n + f.value, 0);
  for (const sev of ['critical', 'warning', 'info'])
    assert.equal(sampleValue(e, 'tcplens_doctor_findings', { severity: sev }), bySeverity(sev));
  assert.ok(
    findings.every((f) => /^[a-z0-9-]+$/.test(f.labels.id!)),
    'ids are kebab-case',
  );
  // The scenario's never-accepting listener holds backlog + 1 connections: a full accept queue.
  assert.ok(
    findings.some(
      (f) => f.labels.id === 'accept-queue-overflow' && ['warning', 'critical'].includes(f.labels.severity!),
    ),
    `accept-queue-overflow among ${findings.map((f) => f.labels.id).join(', ')}`,
  );
  assert.ok((sampleValue(e, 'tcplens_doctor_window_seconds') ?? -1) >= 0);
});

test('/ links to /metrics; other paths are 404 and other methods 405', async () => {
  const base = exporter.url.replace(/metrics$/, '');
  const home = await fetch(base);
  assert.equal(home.status, 200);
  assert.match(await home.text(), /href="metrics"/);
  assert.equal((await fetch(`${base}nope`)).status, 404);
  assert.equal((await fetch(exporter.url, { method: 'POST' })).status, 405);
});

test('the CLI serves /metrics on the address asked and stops cleanly on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [
      new URL('../../src/cli/main.ts', import.meta.url).pathname,
      'exporter',
      '--listen',
      '127.0.0.1:0',
      '--json',
      '--top',
      '3',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; host: string; topN: number };
    assert.equal(info.host, '127.0.0.1');
    assert.equal(info.topN, 3);
    const e = parseExposition(await scrape(info.url));
    for (const name of ['tcplens_sockets_by_remote_port', 'tcplens_sockets_by_local_port']) {
      const ports = e.samples.filter(
        (s) =>
          s.name === name &&
          s.labels.state === 'TIME_WAIT' &&
          s.labels.port !== 'other' &&
          s.labels.port !== 'ephemeral',
      );
      assert.ok(ports.length <= 3, `--top 3 keeps at most 3 ports in ${name}`);
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('--listen takes host:port, [v6]:port or a port, and refuses anything else', () => {
  assert.deepEqual(parseListen('127.0.0.1:9477'), { host: '127.0.0.1', port: 9477 });
  assert.deepEqual(parseListen('0.0.0.0:9477'), { host: '0.0.0.0', port: 9477 });
  assert.deepEqual(parseListen('[::1]:9477'), { host: '::1', port: 9477 });
  assert.deepEqual(parseListen('9477'), { host: '127.0.0.1', port: 9477 }, 'a port alone binds loopback');
  for (const bad of ['nope', 'example.com:9477', '127.0.0.1:70000', '::1:9477', '[::1]', '1.2.3:9', '127.0.0.1:']) {
    assert.throws(
      () => parseListen(bad),
      (err: Error) => err instanceof UsageError && err.message.includes('--listen'),
      bad,
    );
  }
});

test('bad options and a busy port each give one clean line', async () => {
  for (const args of [
    ['--listen', 'example.com:9477'],
    ['--top', '0'],
  ]) {
    const r = await runCli(['exporter', ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
  }
  const busy = await runCli(['exporter', '--listen', `127.0.0.1:${exporter.port}`]);
  assert.equal(busy.code, 2, "a port in use is the user's choice to change, as for serve and dashboard");
  assert.ok(isOneCleanLine(busy.stderr), busy.stderr);
  assert.match(busy.stderr, /in use/);
});
