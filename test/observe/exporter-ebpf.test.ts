import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';
import { runCli } from '../helpers/cli.ts';
import {
  hasPromtool,
  parseExposition,
  promtoolCheckMetrics,
  sampleValue,
  type Exposition,
} from '../helpers/prom-text.ts';
import { has, streamCli, tcpdump } from '../trace/live.ts';
import { countingDrops, nstatIn, overflowListener } from '../trace/overflow.ts';

const isRoot = process.getuid?.() === 0;
const kfreeSkb = (() => {
  try {
    return readFileSync('/sys/kernel/tracing/events/skb/kfree_skb/format', 'utf8');
  } catch {
    return '';
  }
})();
const skip = !isRoot
  ? 'needs root'
  : (['bpftrace', 'tcpdump', 'nft', 'nstat', 'python3'] as const).find((c) => !has(c))
    ? 'needs bpftrace, tcpdump, nft, nstat and python3'
    : !hasPromtool()
      ? 'needs promtool'
      : !kfreeSkb.includes('"TCP_LISTEN_OVERFLOW"')
        ? 'this kernel has no TCP_LISTEN_OVERFLOW drop reason'
        : false;

const CLOSED_CONNECTS = 25;

async function scrape(url: string): Promise<{ text: string; e: Exposition }> {
  const text = await (await fetch(url)).text();
  return { text, e: parseExposition(text) };
}

/**
 * Scrape until `ready` holds (the trace delivers an event up to a few hundred ms after the kernel
 * saw it) or 15 s have passed; the last scrape either way, for the assertions to judge.
 */
async function settled(url: string, ready: (e: Exposition) => boolean): Promise<{ text: string; e: Exposition }> {
  let last = await scrape(url);
  for (let i = 0; i < 50 && !ready(last.e); i++) {
    await new Promise((r) => setTimeout(r, 300));
    last = await scrape(url);
  }
  return last;
}

function connectToClosed(ns: Netns, port: number, n: number): void {
  const script = `import socket,sys
for i in range(${n}):
    try: socket.create_connection(('127.0.0.1',${port}),timeout=2)
    except ConnectionRefusedError: pass`;
  const r = spawnSync(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
}

const sum = (e: Exposition, name: string, labels: Record<string, string>) =>
  e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);

// Its bounded waits (bpftrace compiling two programs, two tcpdumps starting, two settling scrapes)
// add up to more than the suite's two minutes on a loaded machine: it gets five.
test('exporter --ebpf: resets to a closed port and an accept-queue overflow in a namespace, counted by reason as tcpdump, nstat and an independent bpftrace count them', {
  skip,
  timeout: 300_000,
}, async () => {
  const ns = createNetns('tcplens-test-expebpf');
  // Below the ephemeral range (32768–60999): no client picks them as its own port.
  const base = 20_000 + Math.floor(Math.random() * 10_000);
  const ports = { closed: base, overflow: base + 1 };
  const server = await overflowListener(ns, ports.overflow);
  const exporter = streamCli([
    'exporter',
    '--ebpf',
    '--ebpf-port',
    `${ports.closed},${ports.overflow}`,
    '--listen',
    '127.0.0.1:0',
    '--json',
    '--findings-interval',
    '0',
  ]);
  const dumps: Array<{ stop(): Promise<number> }> = [];
  let oracle: Awaited<ReturnType<typeof countingDrops>> | undefined;
  try {
    await exporter.waitFor((l) => 'url' in l, 90_000);
    const start = exporter.lines[0] as { url: string; ebpf: { tracing: boolean } };
    assert.deepEqual(start.ebpf, { tracing: true }, exporter.stderr());
    const before = await scrape(start.url);
    assert.equal(sampleValue(before.e, 'tcplens_trace_up'), 1);
    assert.equal(
      sampleValue(before.e, 'tcplens_resets_total', { direction: 'received', reason: 'unknown' }),
      0,
      'the received series is there from the start',
    );

    // Resets to a closed port: every one NO_SOCKET, as many as tcpdump sees and nstat counts.
    const rst = 'tcp[tcpflags] & tcp-rst != 0';
    const fromClosed = await tcpdump(`${rst} and src port ${ports.closed}`, ns.exec);
    dumps.push(fromClosed);
    const outRsts0 = nstatIn(ns, 'TcpOutRsts');
    connectToClosed(ns, ports.closed, CLOSED_CONNECTS);
    const outRsts = nstatIn(ns, 'TcpOutRsts') - outRsts0;
    const rsts = await fromClosed.stop();
    const phase1 = await settled(start.url, (e) => sum(e, 'tcplens_resets_total', { direction: 'sent' }) >= rsts);
    assert.equal(rsts, CLOSED_CONNECTS, 'tcpdump: one RST per refused connect');
    assert.equal(outRsts, rsts, 'nstat agrees with tcpdump');
    assert.equal(
      sampleValue(phase1.e, 'tcplens_resets_total', { direction: 'sent', reason: 'NO_SOCKET' }),
      rsts,
      phase1.text
        .split('\n')
        .filter((l) => l.startsWith('tcplens_resets'))
        .join('\n'),
    );
    assert.equal(sum(phase1.e, 'tcplens_resets_total', { direction: 'sent' }), rsts, 'no other reason');
    // Each refused connect's RST reached the client: the kernel's receive side saw them too.
    assert.equal(sampleValue(phase1.e, 'tcplens_resets_total', { direction: 'received', reason: 'unknown' }), rsts);

    // The overflow: TCP_LISTEN_OVERFLOW drops as an independent bpftrace counts them; every RST the
    // namespace sent meanwhile (the listener closing on its queue) as tcpdump and nstat count them.
    oracle = await countingDrops('TCP_LISTEN_OVERFLOW', ports.overflow);
    const all = await tcpdump(rst, ns.exec);
    dumps.push(all);
    const outRsts1 = nstatIn(ns, 'TcpOutRsts');
    const overflows0 = nstatIn(ns, 'TcpExtListenOverflows');
    await server.run();
    const outRsts2 = nstatIn(ns, 'TcpOutRsts') - outRsts1;
    const overflows = nstatIn(ns, 'TcpExtListenOverflows') - overflows0;
    const counted = await oracle.stop();
    const rsts2 = await all.stop();
    const sentBefore = sum(phase1.e, 'tcplens_resets_total', { direction: 'sent' });
    const phase2 = await settled(
      start.url,
      (e) =>
        (sampleValue(e, 'tcplens_drops_total', { reason: 'TCP_LISTEN_OVERFLOW' }) ?? 0) >= counted &&
        sum(e, 'tcplens_resets_total', { direction: 'sent' }) - sentBefore >= rsts2,
    );
    const shown = phase2.text
      .split('\n')
      .filter((l) => /^tcplens_(drops|resets|trace)/.test(l))
      .join('\n');
    assert.ok(counted > 0, 'the oracle saw the overflow');
    assert.equal(sampleValue(phase2.e, 'tcplens_drops_total', { reason: 'TCP_LISTEN_OVERFLOW' }), counted, shown);
    assert.ok(overflows >= counted, `ListenOverflows +${overflows} counts at least the traced drops`);
    assert.equal(rsts2, outRsts2, 'tcpdump and nstat agree');
    assert.equal(sum(phase2.e, 'tcplens_resets_total', { direction: 'sent' }) - sentBefore, rsts2, shown);
    // Misses are counted before the port filter, over the whole host: present, not necessarily zero.
    assert.ok((sampleValue(phase2.e, 'tcplens_trace_lost_events_total') ?? -1) >= 0);

    // Valid exposition, reasons the running kernel's names (or "other"), a bounded label set.
    const check = promtoolCheckMetrics(phase2.text);
    assert.equal(check.status, 0, check.output);
    const kernelNames = new Set([...kfreeSkb.matchAll(/\{ \d+, "([A-Z0-9_]+)" \}/g)].map((m) => m[1]!));
    for (const s of phase2.e.samples.filter((x) => x.name === 'tcplens_drops_total')) {
      assert.ok(
        kernelNames.has(s.labels.reason!) || s.labels.reason === 'other',
        `${s.labels.reason} is a name of the kernel's enum`,
      );
    }
    assert.equal(await exporter.stop('SIGTERM'), 0, exporter.stderr());
  } finally {
    oracle?.kill();
    await Promise.all(dumps.map((d) => d.stop()));
    await exporter.stop('SIGKILL');
    server.close();
    ns.close();
  }
});

test('exporter --ebpf without root: one line says why, the metrics are absent, everything else is served', {
  skip: !(isRoot && has('setpriv')) && 'needs root to drop to nobody',
}, async () => {
  const exporter = streamCli(['exporter', '--ebpf', '--listen', '127.0.0.1:0', '--json', '--findings-interval', '0'], {
    prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
  });
  try {
    await exporter.waitFor((l) => 'url' in l, 30_000);
    const start = exporter.lines[0] as { url: string; ebpf: { tracing: boolean; why: string } };
    assert.equal(start.ebpf.tracing, false);
    assert.match(start.ebpf.why, /root/);
    const lines = exporter.stderr().trim().split('\n');
    assert.equal(lines.length, 1, exporter.stderr());
    assert.match(lines[0]!, /^tcplens: --ebpf: .*root.*; the exporter runs without drops and resets by reason$/);
    assert.doesNotMatch(lines[0]!, /--fallback/, 'no advice of an option the exporter does not have');
    const { e } = await scrape(start.url);
    assert.equal(e.samples.filter((s) => /^tcplens_(drops|resets|trace)_/.test(s.name)).length, 0);
    assert.ok((sampleValue(e, 'tcplens_sockets', { state: 'LISTEN', family: 'ipv4' }) ?? 0) >= 1, 'the rest is there');
    assert.equal(await exporter.stop('SIGTERM'), 0);
  } finally {
    await exporter.stop('SIGKILL');
  }
});

test('exporter --ebpf where bpftrace is missing: one line with the command that installs it', {
  skip: !isRoot && 'needs root (else it is root that is missing)',
}, async () => {
  const exporter = streamCli(['exporter', '--ebpf', '--listen', '127.0.0.1:0', '--json', '--findings-interval', '0'], {
    env: { TCPLENS_BPFTRACE: '/nonexistent/bpftrace' },
  });
  try {
    await exporter.waitFor((l) => 'url' in l, 30_000);
    assert.equal(
      exporter.stderr(),
      'tcplens: --ebpf: bpftrace not found at /nonexistent/bpftrace: install it with apt-get install -y bpftrace; the exporter runs without drops and resets by reason\n',
    );
    assert.equal(await exporter.stop('SIGTERM'), 0);
  } finally {
    await exporter.stop('SIGKILL');
  }
});

test('--ebpf-port without --ebpf is a usage error', async () => {
  const r = await runCli(['exporter', '--ebpf-port', '80']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^tcplens: --ebpf-port narrows --ebpf: add --ebpf\n$/);
});
