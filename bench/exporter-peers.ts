// Benchmark: what the exporter's per-peer RTT reading (tcp_info of every ESTABLISHED connection through
// netlink, grouped by peer) costs next to a scrape without it and next to `ss -tin`, on the same
// sockets in a network namespace of our own, rounds interleaved. The reading rides on the sample's
// one scan once per --rtt-interval: a scrape that carries it is the one timed here beside one that does not.
//
//   node bench/exporter-peers.ts [--clients 10000] [--farms 2] [--rounds 7]

import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { QUEUE_FARM, namespaceShell } from './lib/netns-farm.ts';
import { machineLine } from './lib/machine-line.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    farms: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '7' },
    // Internal: the timings, in-process, inside the namespace.
    inner: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (values.inner) {
  const { createHostMetrics } = await import('../src/observe/exporter.ts');
  const metrics = createHostMetrics({ minIntervalMs: 0, findingsIntervalMs: 0, rttIntervalMs: 0 });
  const withPeers = createHostMetrics({ minIntervalMs: 0, findingsIntervalMs: 0, rttIntervalMs: 1 });
  const gauge = (text: string, name: string) => text.match(new RegExp(`^${name} (\\S+)`, 'm'))?.[1];
  // A scrape whose sample read per-peer RTT (its reading's time is the sample's): the sampler spaces
  // readings at least five times their cost apart, so the scrapes between are not timed.
  const peers = async (): Promise<{ ms: number; connections: string | undefined }> => {
    for (let tries = 0; tries < 100; tries++) {
      const t = performance.now();
      const text = await withPeers.scrape();
      const ms = performance.now() - t;
      if (gauge(text, 'tcplens_peer_rtt_timestamp_seconds') === gauge(text, 'tcplens_sample_timestamp_seconds')) {
        return { ms, connections: text.match(/^tcplens_connections_by_rtt\{at_most="\+Inf"\} (\d+)/m)?.[1] };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no scrape carried a per-peer reading');
  };
  await metrics.scrape(); // warm-up: JIT, ss for the listeners
  await peers();
  const scrapeMs: number[] = [];
  const peerMs: number[] = [];
  const ssMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await metrics.scrape();
    scrapeMs.push(performance.now() - t);
    const r = await peers();
    peerMs.push(r.ms);
    if (i === 0) console.error(`peer reading: ${r.connections} connections`);
    t = performance.now();
    spawnSync('sh', ['-c', 'ss -tinH state established > /dev/null']);
    ssMs.push(performance.now() - t);
  }
  metrics.close();
  withPeers.close();
  console.log(JSON.stringify({ scrapeMs, peerMs, ssMs }));
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench/exporter-peers.ts needs root (a network namespace of its own)');
  process.exit(2);
}

const ns = createNetns('tcplens-bench-peers');
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tcplens-bench-peers-'));
try {
  ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.core.somaxconn': 65535 });
  const { start, run } = namespaceShell(ns.name, children);
  writeFileSync(join(dir, 'farm.py'), QUEUE_FARM);
  await Promise.all(
    Array.from({ length: Number(values.farms) }, () => start(`python3 ${join(dir, 'farm.py')} ${values.clients}`)),
  );
  const established = Number(run('ss -tanH state established | wc -l').trim());
  console.log(machineLine());
  console.log(`${established} ESTABLISHED sockets in the namespace (ss -tanH state established | wc -l)`);
  const out = run(`${process.execPath} ${new URL(import.meta.url).pathname} --inner --rounds ${rounds}`);
  const { scrapeMs, peerMs, ssMs } = JSON.parse(out) as { scrapeMs: number[]; peerMs: number[]; ssMs: number[] };
  const f = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (${xs.map((x) => x.toFixed(0)).join(' ')})`;
  console.log(`scrape without per-peer RTT: ${f(scrapeMs)}`);
  console.log(`scrape with per-peer RTT:    ${f(peerMs)}`);
  console.log(`ss -tinH state established:  ${f(ssMs)} (a whole process)`);
  console.log(
    `with / without per-peer RTT: ${(median(peerMs) / median(scrapeMs)).toFixed(2)}x; with per-peer RTT / ss -tin: ${(median(peerMs) / median(ssMs)).toFixed(2)}x`,
  );
} finally {
  for (const c of children) c.kill('SIGKILL');
  ns.close();
  rmSync(dir, { recursive: true, force: true });
}
