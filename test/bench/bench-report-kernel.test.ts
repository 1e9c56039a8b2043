import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.ts';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';
import { placeSamples, sampleAt, sampleSpacingMs, startFootprint } from '../../src/bench/footprint.ts';
import type { FootprintSample } from '../../src/bench/footprint-sample.ts';
import type { TimelinePoint } from '../../src/model/bench-result.ts';
import { httpServer, hello } from '../helpers/servers.ts';

const root = process.getuid?.() === 0;

/** A server in the namespace that answers and keeps the connection, so the client closes first and holds TIME_WAIT. */
async function serverIn(ns: Netns) {
  const code = `require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nx')); })
    .listen(8080, '127.0.0.1', () => console.log('ready'));`;
  const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(createInterface({ input: server.stdout! }), 'line');
  return server;
}

/** Like serverIn, and it tells how many connections it accepted: write a line to its stdin, read one back. */
async function countingServerIn(ns: Netns): Promise<{ connections(): Promise<number> }> {
  const code = `let n = 0; require('net').createServer((s) => { n++; s.on('error', () => {}); s.on('data', () => s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nx')); })
    .listen(8080, '127.0.0.1', () => console.log('ready'));
    process.stdin.on('data', () => console.log(n));`;
  const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout! });
  await once(lines, 'line');
  return {
    async connections() {
      const line = once(lines, 'line');
      server.stdin!.write('\n');
      return Number((await line)[0]);
    },
  };
}

function texts(result: { verdict: { text: string }[] }): string {
  return result.verdict.map((v) => v.text).join('\n');
}

test('scans are spaced once a second until one costs more than 5% of a core, then 20x their cost', () => {
  assert.equal(sampleSpacingMs(2), 1000);
  assert.equal(sampleSpacingMs(50), 1000);
  // A 60 ms scan (15,000 TIME_WAIT sockets) every 1.2 s: 5% of a core, not the 1.25% of 80x.
  assert.equal(sampleSpacingMs(60), 1200);
  assert.equal(sampleSpacingMs(500), 10_000);
});

test('a second of the timeline takes the sample of that second, or none when the newest is stale', () => {
  const at = (atMs: number, timeWaitClient: number): FootprintSample => ({
    t: atMs / 1000,
    atMs,
    timeWaitClient,
    timeWaitServer: 0,
    ephemeral: timeWaitClient,
    timeWaitClientNew: 0,
    timeWaitServerNew: 0,
  });
  const samples = [at(0, 0), at(1000, 10), at(2000, 20), at(6000, 60)];
  assert.equal(sampleAt(samples, 1000)?.timeWaitClient, 10);
  assert.equal(sampleAt(samples, 2400)?.timeWaitClient, 20);
  // Seconds 4 and 5 had no scan: no figure rather than second 2's, repeated.
  assert.equal(sampleAt(samples, 4000), undefined);
  assert.equal(sampleAt(samples, 5000), undefined);
  assert.equal(sampleAt(samples, 6000)?.timeWaitClient, 60);
});

test('each second of the timeline takes the sample of its own end, counted from the end of warm-up on one clock', () => {
  const measuredFrom = 1_700_000_000_000;
  const at = (offsetMs: number, timeWaitClient: number): FootprintSample => ({
    // The sampler's own seconds start earlier (before warm-up): placing must not use them.
    t: (offsetMs + 2500) / 1000,
    atMs: measuredFrom + offsetMs,
    timeWaitClient,
    timeWaitServer: 1,
    ephemeral: timeWaitClient + 4,
    timeWaitClientNew: 0,
    timeWaitServerNew: 0,
  });
  // A 2 s warm-up (samples at -2 s, -1 s, 0), then the measured part; a scan ends a few ms after its second.
  const samples = [at(-2000, 0), at(-1000, 300), at(5, 600), at(1004, 900), at(2010, 1200)];
  const timeline: TimelinePoint[] = [1, 2, 3].map((t) => ({ t, requests: 300, errors: 0, p50Ms: 1, p99Ms: 2 }));
  placeSamples(timeline, samples, measuredFrom);
  assert.deepEqual(
    timeline.map((p) => p.timeWait),
    [901, 1201, 1201],
  );
  assert.deepEqual(
    timeline.map((p) => p.ephemeralPorts),
    [904, 1204, 1204],
  );
  // Five seconds without a scan: no figure rather than an old one.
  const gap: TimelinePoint[] = [{ t: 5, requests: 0, errors: 0, p50Ms: 0, p99Ms: 0 }];
  placeSamples(gap, samples, measuredFrom);
  assert.equal(gap[0]!.timeWait, undefined);
});

test('checking the target before the run leaves no TIME_WAIT: ss sees only the run\'s own, and none is "there before the run"', async (t) => {
  if (process.platform !== 'linux') return t.skip('Linux only');
  const server = await httpServer(hello);
  try {
    const r = await runCli(['bench', server.url, '-n', '1', '-c', '1', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    // The one connection of the run closes first (FIN) and keeps its TIME_WAIT; the check before it ends with RST.
    const timeWait = execFileSync(
      'ss',
      ['-Htan', 'state', 'time-wait', `( sport = :${server.port} or dport = :${server.port} )`],
      { encoding: 'utf8' },
    )
      .split('\n')
      .filter(Boolean);
    assert.equal(timeWait.length, 1, timeWait.join('\n'));
    assert.equal(result.kernel.timeWaitAtStart, 0);
    assert.doesNotMatch(texts(result), /before this run began/);
  } finally {
    await server.close();
  }
});

test("after --warmup, the timeline's TIME_WAIT counts are the measured seconds', not warm-up's (in a namespace)", {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-timeline');
  try {
    const server = await countingServerIn(ns);
    // The client closes first: each connection leaves a TIME_WAIT for 60 s, so the count only grows.
    const r = await runCli(
      [
        'bench',
        'http://127.0.0.1:8080/',
        '--no-keepalive',
        '-R',
        '300',
        '-c',
        '4',
        '--warmup',
        '2',
        '-d',
        '2',
        '--json',
      ],
      { prefix: ns.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    // The server's own count: bench's check of the target, warm-up's connections, the measured ones.
    const warmup = (await server.connections()) - 1 - result.connectionsOpened;
    assert.ok(warmup > 100, `warm-up opened ${warmup} connections`);
    const first = result.timeline[0];
    // Second 1 ends a second after warm-up: every warm-up connection is in TIME_WAIT by then. Read
    // on the sampler's own clock (started before warm-up) it was a sample from the middle of warm-up.
    assert.ok(first.timeWait >= 0.8 * warmup, `second 1: ${first.timeWait} TIME_WAIT, warm-up alone left ${warmup}`);
  } finally {
    ns.close();
  }
});

test('a 3 s keep-alive run (few sockets) is sampled about once a second (in a namespace)', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-samples');
  try {
    await serverIn(ns);
    const r = await runCli(['bench', 'http://127.0.0.1:8080/', '-d', '3', '-c', '8', '--json'], {
      prefix: ns.exec,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    // One scan before the load, one a second, one at the end: 4 or 5 on an idle machine (a scan
    // here costs 12-20 ms of kernel time, walking the 262,144 buckets of the established hash).
    // >= 3 leaves room for one tick lost to a loaded machine; 2 would mean no scan during the run.
    assert.ok(result.kernel.samples >= 3, `${result.kernel.samples} samples in ${result.durationS} s`);
    const sampled = result.timeline.filter((p: { timeWait?: number }) => p.timeWait !== undefined).length;
    assert.ok(sampled >= 2, `timeline seconds with a kernel sample: ${sampled}`);
  } finally {
    ns.close();
  }
});

test('tcp_tw_reuse=2 on loopback: 1,500 short connections over 1,000 ports get no EADDRNOTAVAIL, and the verdict does not predict it (in a namespace)', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-reuse');
  try {
    ns.sysctl({
      'net.ipv4.ip_local_port_range': '40000 40999',
      'net.ipv4.tcp_tw_reuse': 2,
      'net.ipv4.tcp_timestamps': 1,
    });
    await serverIn(ns);
    const r = await runCli(
      ['bench', 'http://127.0.0.1:8080/', '-R', '500', '-d', '3', '-c', '4', '--no-keepalive', '--json'],
      { prefix: ns.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(result.kernel.timeWaitReuse, {
      tcpTwReuse: 2,
      tcpTimestamps: 1,
      delayMs: result.kernel.timeWaitReuse.delayMs,
      targetIsLoopback: true,
    });
    // The kernel is the oracle: more connections than ports, and none failed for want of a port.
    assert.ok(result.connectionsOpened > 1000, `${result.connectionsOpened} connections`);
    assert.equal(result.errors.EADDRNOTAVAIL, undefined, JSON.stringify(result.errors));
    assert.ok(result.kernel.ephemeralPortsPeak <= 1000, `ports peak ${result.kernel.ephemeralPortsPeak} of 1,000`);
    const said = texts(result);
    assert.doesNotMatch(said, /EADDRNOTAVAIL ahead/);
    assert.doesNotMatch(said, /set tcp_tw_reuse=1/);
    assert.match(said, /tcp_tw_reuse=2 \(loopback only\) lets connect\(\) take over a TIME_WAIT port/);

    // With reuse off the same load runs out of ports within 2 s, and the verdict says what to set.
    ns.sysctl({ 'net.ipv4.tcp_tw_reuse': 0 });
    const off = await runCli(
      ['bench', 'http://127.0.0.1:8080/', '-R', '500', '-d', '3', '-c', '4', '--no-keepalive', '--json'],
      { prefix: ns.exec, timeoutMs: 60_000 },
    );
    const offResult = JSON.parse(off.stdout);
    assert.equal(offResult.kernel.timeWaitReuse.tcpTwReuse, 0);
    assert.ok(offResult.errors.EADDRNOTAVAIL > 0, JSON.stringify(offResult.errors));
    assert.match(texts(offResult), /set tcp_tw_reuse=1 on this client/);
  } finally {
    ns.close();
  }
});

test('ephemeral ports count only local ports inside ip_local_port_range (ss lists the others too)', async (t) => {
  if (process.platform !== 'linux') return t.skip('Linux only');
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [
    number,
  ];
  const server = createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  const footprint = startFootprint('127.0.0.1', port)!;
  try {
    const open = (localPort?: number) =>
      new Promise<Socket | undefined>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, localPort });
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
    for (let i = 0; i < 5; i++) clients.push((await open())!);
    // Explicitly bound below the range: a port connect() would never pick.
    let outside = 0;
    for (let p = low - 2000; p < low - 1000 && outside < 3; p++) {
      const s = await open(p);
      if (s) {
        clients.push(s);
        outside++;
      }
    }
    assert.equal(outside, 3);
    await footprint.ready;
    assert.ok(footprint.latest()!.ageMs < 5000, 'the first sample is fresh');
    // Give the sampler a scan with every connection up: it scans once a second.
    await new Promise((r) => setTimeout(r, 1200));
    const listed = execFileSync('ss', ['-Htn', 'state', 'established', 'dst', `127.0.0.1:${port}`], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(line.trim().split(/\s+/)[2]!.split(':').pop()));
    const k = await footprint.stop();
    assert.equal(listed.length, 8, 'ss sees all eight connections');
    const inRange = listed.filter((p) => p >= low).length;
    assert.equal(inRange, 5);
    assert.equal(k.ephemeralPortsPeak, inRange);
  } finally {
    await footprint.stop().catch(() => {});
    // RST rather than FIN: no TIME_WAIT left on the host's loopback.
    for (const s of clients) s.resetAndDestroy();
    server.close();
  }
});
