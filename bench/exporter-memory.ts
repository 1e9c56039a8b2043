// Benchmark: the exporter's resident memory with 100,000+ real sockets, over 1,000 scrapes. The
// sockets are ESTABLISHED pairs held in accept queues that are never drained (they do not expire,
// unlike TIME_WAIT), grown by Python in a network namespace of our own. Prints VmRSS (read from
// /proc/PID/status, and the exporter's own process_resident_memory_bytes) along the way, and the
// drift between the first and the last hundred scrapes. Needs root; nothing on the host changes.
//
// The exporter runs as shipped: dist/cli/main.js (npm run build), or --from src, or --from sea
// (build/tcplens-linux-x64, npm run build:sea). --node-options sets NODE_OPTIONS for it (the
// executable honours it too), e.g. --node-options=--max-semi-space-size=1 as deploy/ runs it; the
// environment passes through, so deploy/'s glibc settings are measured by prefixing them:
//   MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=131072 node bench/exporter-memory.ts --from sea --node-options=--max-semi-space-size=1
//
//   node bench/exporter-memory.ts [--farms 6] [--clients 9000] [--scrapes 1000] [--pause-ms 150]

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { QUEUE_FARM, namespaceShell } from './lib/netns-farm.ts';

const { values } = parseArgs({
  options: {
    farms: { type: 'string', default: '6' },
    clients: { type: 'string', default: '9000' },
    scrapes: { type: 'string', default: '1000' },
    'pause-ms': { type: 'string', default: '150' },
    from: { type: 'string', default: 'dist' },
    'node-options': { type: 'string', default: '' },
  },
});
const farms = Number(values.farms);
const scrapes = Number(values.scrapes);
const pauseMs = Number(values['pause-ms']);
if (process.getuid?.() !== 0) {
  console.error('bench/exporter-memory.ts needs root (a network namespace of its own)');
  process.exit(2);
}

const ns = createNetns('tcplens-bench-exporter-mem');
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tcplens-bench-exporter-mem-'));
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  ns.close();
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const { start, run } = namespaceShell(ns.name, children);

const rssMiB = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const mib = (x: number) => `${x.toFixed(1)} MiB`;

try {
  ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.core.somaxconn': 65535 });
  const root = new URL('..', import.meta.url).pathname;
  const binary: Record<string, string> = {
    dist: `${process.execPath} ${root}dist/cli/main.js`,
    src: `${process.execPath} ${root}src/cli/main.ts`,
    sea: `${root}build/tcplens-linux-${process.arch}`,
  };
  const command = binary[values.from];
  if (!command) throw new Error(`--from is dist, src or sea, not ${values.from}`);
  // Defaults but the port: doctor's findings every 30 s, top 10, as a fleet would run it.
  const env = { ...process.env, NODE_OPTIONS: values['node-options'] };
  const exporter = await start(`${command} exporter --listen 127.0.0.1:0 --json`, env);
  console.log(`exporter: ${values['node-options'] ? `NODE_OPTIONS=${values['node-options']} ` : ''}${command}`);
  const pid = exporter.child.pid!;
  const url = (JSON.parse(exporter.line) as { url: string }).url;
  const idle = rssMiB(pid);
  run(`curl -sf ${url} > /dev/null`);
  const idleScraped = rssMiB(pid);

  const farmScript = join(dir, 'queue-farm.py');
  writeFileSync(farmScript, QUEUE_FARM);
  const grown = performance.now();
  await Promise.all(Array.from({ length: farms }, () => start(`python3 ${farmScript} ${values.clients}`)));
  const sockets = Number(run('ss -tanH | wc -l').trim());
  console.log(
    `${sockets} sockets in the namespace (ss -tanH | wc -l), grown in ${((performance.now() - grown) / 1000).toFixed(1)} s; load ${loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`exporter RSS before any socket: ${mib(idle)} (after one scrape: ${mib(idleScraped)})`);

  const rss: number[] = [];
  const selfReported: number[] = [];
  const durations: number[] = [];
  let samples = 0;
  const t0 = performance.now();
  for (let i = 0; i < scrapes; i++) {
    const text = run(`curl -sf ${url}`);
    rss.push(rssMiB(pid));
    const own = /^process_resident_memory_bytes (\S+)$/m.exec(text);
    if (own) selfReported.push(Number(own[1]) / 2 ** 20);
    const d = /^tcplens_scrape_duration_seconds (\S+)$/m.exec(text);
    if (d) durations.push(Number(d[1]) * 1000);
    samples = Number(/^tcplens_scrapes_total (\S+)$/m.exec(text)?.[1] ?? samples);
    if (i === 0) {
      const seen = Number(/^tcplens_scrape_sockets (\S+)$/m.exec(text)?.[1]);
      console.log(`first scrape: the exporter read ${seen} sockets; RSS ${mib(rss[0]!)}`);
    }
    if ((i + 1) % 100 === 0)
      console.log(
        `  scrape ${String(i + 1).padStart(4)}: RSS ${mib(rss[i]!)} (process_resident_memory_bytes ${mib(selfReported.at(-1) ?? NaN)})`,
      );
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  const seconds = (performance.now() - t0) / 1000;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sorted = [...durations].sort((a, b) => a - b);
  const first100 = mean(rss.slice(0, 100));
  const last100 = mean(rss.slice(-100));
  console.log(
    `\n${scrapes} scrapes in ${seconds.toFixed(0)} s (${samples} samples taken; scrapes within 500 ms of one share it)`,
  );
  console.log(
    `  RSS max ${mib(Math.max(...rss))}, min ${mib(Math.min(...rss))}; mean of the first 100 scrapes ${mib(first100)}, of the last 100 ${mib(last100)}: drift ${(last100 - first100).toFixed(1)} MiB (${((last100 / first100 - 1) * 100).toFixed(1)}%)`,
  );
  console.log(
    `  scrape duration (tcplens_scrape_duration_seconds) p50 ${sorted[sorted.length >> 1]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms; load ${loadavg()[0]!.toFixed(1)}`,
  );
} finally {
  cleanup();
}
