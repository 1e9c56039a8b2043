// Benchmark: one `tcplens exporter` scrape over 100,000+ real sockets, side by side with `ss -tan`
// and node_exporter (netstat, sockstat and tcpstat collectors; and tcpstat alone) on the same sockets,
// runs interleaved.
// The sockets grow in a network namespace of our own, fast and without descriptors where possible:
// - queue farms: a listener with a huge backlog that never accepts, and N clients connected to it:
//   2N ESTABLISHED sockets for N descriptors (the server's side waits in the accept queue);
// - a TIME_WAIT farm: connect, accept, the server closes first: one server-side TIME_WAIT per
//   round trip, holding no descriptor. TIME_WAIT lasts 60 s, so it is grown last.
// Python does the growing (Node always accepts, so it cannot hold a queue). Needs root; nothing on
// the host changes.
//
//   node bench/exporter.ts [--queue-farms 4] [--clients 9000] [--time-wait 30000] [--rounds 9]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { QUEUE_FARM, namespaceShell } from './lib/netns-farm.ts';
import { SYSCTL_CATALOG } from '../src/analyze/sysctl-catalog.ts';

const { values } = parseArgs({
  options: {
    'queue-farms': { type: 'string', default: '4' },
    clients: { type: 'string', default: '9000' },
    'time-wait': { type: 'string', default: '30000' },
    rounds: { type: 'string', default: '9' },
    // Internal: time the exporter's own work on a copy of the tables (TCPLENS_PROC), in-process.
    'processing-only': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const queueFarms = Number(values['queue-farms']);

if (values['processing-only']) {
  // The same text as the kernel's, read from plain files: what is left is tcplens's own work
  // (parse, count, top-N, render), without the kernel formatting the tables.
  const { createHostMetrics } = await import('../src/observe/exporter.ts');
  const metrics = createHostMetrics({ minIntervalMs: 0, findingsIntervalMs: 0 });
  await metrics.scrape(); // warm-up: JIT, ss for the listeners
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await metrics.scrape();
    ms.push(performance.now() - t);
  }
  metrics.close();
  console.log(JSON.stringify(ms));
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench/exporter.ts needs root (a network namespace of its own)');
  process.exit(2);
}

const ns = createNetns('tcplens-bench-exporter');
const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  ns.close();
  for (const f of cleanups) f();
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const { argv: inNs, start, run } = namespaceShell(ns.name, children);
const node = process.execPath;

// Wall time of one command run inside the namespace, timed by bash there (start-up included).
function timeOne(cmd: string): number {
  const argv = inNs(`TIMEFORMAT=%3R; time ( ${cmd} > /dev/null )`);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return Number(r.stderr.trim().split('\n').pop()) * 1000;
}

// Bounded in count and in time (100 s), like QUEUE_FARM; holds its sockets until stdin closes.
const TIME_WAIT_FARM = `
import socket, sys, time
n = int(sys.argv[1]); deadline = time.time() + 100
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4096)
port = l.getsockname()[1]; done = 0
while done < n and time.time() < deadline:
    c = socket.socket(); c.connect(('127.0.0.1', port))
    a, _ = l.accept(); a.close(); c.close(); done += 1
print(port, done, flush=True)
sys.stdin.read()
`;

try {
  // A bigger somaxconn lets a backlog of 65535 hold every queued client; no tcp_tw_reuse, so that new
  // connections do not recycle the TIME_WAIT grown. All three knobs are this namespace's own.
  ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.core.somaxconn': 65535, 'net.ipv4.tcp_tw_reuse': 0 });
  // The servers bind first: with the namespace's range at 1024-65535, any port may be taken later.
  const cli = new URL('../src/cli/main.ts', import.meta.url).pathname;
  const exporter = await start(`${node} ${cli} exporter --listen 127.0.0.1:0 --json`);
  const url = (JSON.parse(exporter.line) as { url: string }).url;
  const nodeExporter = existsSync('/usr/bin/prometheus-node-exporter');
  if (nodeExporter) {
    // Two of them: the three collectors tcplens's series cover, and tcpstat alone (the socket
    // table by state, read through netlink as tcplens reads it).
    for (const [port, collectors] of [
      [19100, 'netstat --collector.sockstat --collector.tcpstat'],
      [19101, 'tcpstat'],
    ] as const) {
      const argv = inNs(
        `exec prometheus-node-exporter --collector.disable-defaults --collector.${collectors} --web.listen-address=127.0.0.1:${port} 2>/tmp/tcplens-bench-node-exporter-${port}.log`,
      );
      children.push(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        up = run(`curl -s -o /dev/null -w %{http_code} http://127.0.0.1:${port}/metrics`) === '200';
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      if (!up) throw new Error(`node_exporter did not come up: see /tmp/tcplens-bench-node-exporter-${port}.log`);
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'tcplens-bench-exporter-'));
  const script = (name: string, code: string) => {
    writeFileSync(join(dir, name), code);
    return join(dir, name);
  };
  const queueFarm = script('queue-farm.py', QUEUE_FARM);
  const twFarm = script('time-wait-farm.py', TIME_WAIT_FARM);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const py = (path: string, n: string) => `python3 ${path} ${n}`;
  const grown = performance.now();
  const ready = await Promise.all(Array.from({ length: queueFarms }, () => start(py(queueFarm, values.clients))));
  ready.push(await start(py(twFarm, values['time-wait'])));
  const sockets = Number(run('ss -tanH | wc -l').trim());
  console.log(
    `socket farms ready in ${((performance.now() - grown) / 1000).toFixed(1)} s: ${sockets} sockets in the namespace (ss -tanH | wc -l)`,
  );
  console.log(run("ss -tanH | awk '{print $1}' | sort | uniq -c | sort -nr").trimEnd());

  // A copy of the tables and counters as files, for the processing-only run at the end.
  const copy = join(dir, 'proc');
  const knobs = SYSCTL_CATALOG.map((k) => `sys/${k.name.replaceAll('.', '/')}`);
  run(
    `mkdir -p ${copy}/net && for f in tcp tcp6 snmp netstat sockstat sockstat6; do cat /proc/net/$f > ${copy}/net/$f; done; ` +
      `for k in ${knobs.join(' ')}; do mkdir -p ${copy}/$(dirname $k); cat /proc/$k > ${copy}/$k 2>/dev/null || rm -f ${copy}/$k; done`,
  );

  // The first scrape pays once for what later ones reuse: ss for the listeners' maxima, the
  // owner walk, doctor's first findings. Shown apart.
  const cold = timeOne(`curl -sf ${url}`);
  const jobs = [
    { name: 'tcplens exporter scrape (curl /metrics)', cmd: `curl -sf ${url}` },
    { name: 'ss -tan state all | wc -l', cmd: 'ss -tan state all | wc -l' },
    ...(nodeExporter
      ? [
          { name: 'node_exporter netstat+sockstat+tcpstat scrape', cmd: 'curl -sf http://127.0.0.1:19100/metrics' },
          { name: 'node_exporter --collector.tcpstat scrape', cmd: 'curl -sf http://127.0.0.1:19101/metrics' },
        ]
      : []),
    // The floor of any /proc reader: the kernel formatting the tables, nothing parsed.
    { name: 'cat /proc/net/tcp /proc/net/tcp6', cmd: 'cat /proc/net/tcp /proc/net/tcp6' },
  ];
  const times = new Map(jobs.map((j) => [j.name, [] as number[]]));
  const sampleMs: number[] = [];
  const sampleTimes = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < jobs.length; k++) {
      const j = jobs[(r + k) % jobs.length]!;
      // Scrapes within 500 ms of a sample share it: wait that out, so every timed scrape reads /proc.
      if (j === jobs[0]) await new Promise((res) => setTimeout(res, 600));
      times.get(j.name)!.push(timeOne(j.cmd));
      if (j === jobs[0]) {
        // The exporter's own account of the sample behind that scrape (this second scrape shares
        // it, and is not timed).
        const text = run(`curl -sf ${url}`);
        const m = /^tcplens_sample_duration_seconds (\S+)$/m.exec(text);
        if (m) sampleMs.push(Number(m[1]) * 1000);
        sampleTimes.add(/^tcplens_sample_timestamp_seconds (\S+)$/m.exec(text)?.[1] ?? '');
      }
    }
  }
  if (sampleTimes.size !== rounds)
    console.log(`warning: ${rounds} timed scrapes saw ${sampleTimes.size} distinct samples`);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const p50 = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => sorted(xs).at(-1)!;
  const ours = times.get(jobs[0]!.name)!;
  const scrapeText = run(`curl -sf ${url}`);
  console.log(
    `\n${sockets} sockets, ${rounds} interleaved rounds, wall time of each command inside the namespace (start-up included)`,
  );
  console.log(`  ${'command'.padEnd(48)} ${'p50 ms'.padStart(8)} ${'max ms'.padStart(8)}   tcplens/this (p50)`);
  for (const j of jobs) {
    const xs = times.get(j.name)!;
    const ratio = j === jobs[0] ? '' : `${(p50(ours) / p50(xs)).toFixed(2)}x`;
    console.log(
      `  ${j.name.padEnd(48)} ${p50(xs).toFixed(1).padStart(8)} ${max(xs).toFixed(1).padStart(8)}   ${ratio}`,
    );
  }
  console.log(
    `  first (cold) tcplens scrape: ${cold.toFixed(1)} ms; sample time inside the exporter p50 ${p50(sampleMs).toFixed(1)} ms, max ${max(sampleMs).toFixed(1)} ms`,
  );
  console.log(
    `  scrape size: ${scrapeText.split('\n').filter((l) => l && !l.startsWith('#')).length} series, ${(scrapeText.length / 1024).toFixed(0)} KiB`,
  );
  const own = spawnSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--processing-only', '--rounds', String(rounds)],
    {
      encoding: 'utf8',
      env: { ...process.env, TCPLENS_PROC: copy },
    },
  );
  const ownMs = JSON.parse(own.stdout.trim().split('\n').pop() ?? '[]') as number[];
  if (ownMs.length) {
    console.log(
      `  tcplens's own work on the same ${sockets} lines read from files (TCPLENS_PROC, no kernel formatting): p50 ${p50(ownMs).toFixed(1)} ms, max ${max(ownMs).toFixed(1)} ms (in-process scrape)`,
    );
  }
  const verdict = max(ours) < 300 ? 'PASS' : 'FAIL';
  const floor = p50(times.get('cat /proc/net/tcp /proc/net/tcp6')!);
  console.log(
    `  target: a scrape with 100,000 sockets under 300 ms — ${verdict} (p50 ${p50(ours).toFixed(1)} ms, max ${max(ours).toFixed(1)} ms over ${sockets} sockets;`,
  );
  console.log(
    `          the kernel formatting the tables alone, cat, takes p50 ${floor.toFixed(1)} ms here; load average now ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} CPUs)`,
  );
  for (const f of ready) f.child.stdin!.end();
} finally {
  cleanup();
}
