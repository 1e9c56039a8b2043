// Benchmark: tcplens proxy against the real Toxiproxy, side by side in one run, rounds interleaved
// (which goes first rotates), each configured through the same Toxiproxy API calls:
// - requests/s and the proxy's CPU per request (from /proc/<pid>/stat) under wrk -c64 (keep-alive)
//   to nginx (one worker), with no toxic, a latency toxic of 0 ms and one of 1 ms (downstream);
// - MB/s of 1 GiB over one connection (a sender and a receiver process) with no toxic, latency 0 ms,
//   and a bandwidth toxic far above the link's speed;
// - elapsed ms of 2 MB through a slicer of 1000 ± 100 byte pieces with a 10 µs delay.
// Every ratio printed is the median of the per-round ratios tcplens / Toxiproxy.
//
//   node bench/proxy-toxiproxy.ts [--rounds 5] [--seconds 3] [--threads 2] [--bulk-gib 1] [--only rps|bulk|slicer]
//                                 [--cases 'latency 1,none'] [--compare DIR[,DIR...]]
//
// --cases runs only the named cases of the chosen parts; --compare runs more servers, tcplens from
// other checkouts (e.g. `git worktree add /tmp/base main`), interleaved with the other two, so that
// a change is measured against what it changes in the same run (their ratios are printed too).
//
// Needs the toxiproxy-server binary ($TOXIPROXY_SERVER, default ../shared/anchors/toxiproxy/bin) and
// wrk (Debian: wrk); nginx (Debian: nginx-light) is used as the target when installed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuTicks } from './lib/cpu-ticks.ts';
import { freePort, median, receive, sleep, start, startSender, startTarget, waitForPort } from './lib/proxy-ends.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    'bulk-gib': { type: 'string', default: '1' },
    only: { type: 'string' },
    cases: { type: 'string' },
    compare: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const bulkBytes = Math.round(Number(values['bulk-gib']) * 2 ** 30);
const TOXIPROXY = process.env.TOXIPROXY_SERVER ?? '/work/shared/anchors/toxiproxy/bin/toxiproxy-server';
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'src/cli/main.ts');
const work = mkdtempSync(join(tmpdir(), 'tcplens-bench-toxiproxy-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

if (!existsSync(TOXIPROXY)) {
  console.error(`tcplens: no toxiproxy-server at ${TOXIPROXY} (set TOXIPROXY_SERVER)`);
  process.exit(1);
}
if (spawnSync('wrk', ['--version']).error) {
  console.error('tcplens: wrk is not installed (Debian: apt-get install wrk)');
  process.exit(1);
}

/** A proxy server under test: its API and the pid whose CPU is counted. */
interface Server {
  name: string;
  api: string;
  pid: number;
}

async function startToxiproxy(): Promise<Server> {
  const port = await freePort();
  // Its log goes to stdout, lines per connection: into a pipe this process does not read while wrk
  // runs, it would block.
  const c = start(TOXIPROXY, ['-host', '127.0.0.1', '-port', String(port)], 'ignore', 'ignore');
  await waitForPort(port);
  return { name: 'toxiproxy', api: `http://127.0.0.1:${port}`, pid: c.pid! };
}

async function startTcplens(name = 'tcplens', main = cli): Promise<Server> {
  const port = await freePort();
  const c = start(process.execPath, [main, 'proxy', '--api', `127.0.0.1:${port}`], 'inherit', 'ignore');
  await waitForPort(port);
  return { name, api: `http://127.0.0.1:${port}`, pid: c.pid! };
}

/** The cases of a part to run: all, or those named by --cases. */
function chosen(all: string[]): string[] {
  if (values.cases === undefined) return all;
  const names = values.cases.split(',').map((c) => c.trim());
  return all.filter((c) => names.includes(c));
}

async function call(server: Server, method: string, path: string, body?: unknown): Promise<void> {
  const init = {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  };
  // A kept-alive API connection may have been closed by its server while wrk ran: once more on a new one.
  const r = await fetch(`${server.api}${path}`, init).catch(() => fetch(`${server.api}${path}`, init));
  if (!r.ok) throw new Error(`${server.name}: ${method} ${path}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

interface Toxic {
  type: string;
  attributes: Record<string, number>;
}

/**
 * One proxy per case on each server, in front of `upstreamPort`, made with its toxic: nothing changes
 * while load runs (Toxiproxy stopped answering for seconds on some rounds after its toxics were
 * reset between them). Returns each case's listen port per server.
 */
async function createProxies(
  servers: Server[],
  prefix: string,
  cases: string[],
  upstreamPort: number,
): Promise<Map<string, Map<Server, number>>> {
  const ports = new Map<string, Map<Server, number>>();
  for (const [i, c] of cases.entries()) {
    const byServer = new Map<Server, number>();
    for (const s of servers) {
      const port = await freePort();
      const name = `${prefix}${i}`;
      await call(s, 'POST', '/proxies', {
        name,
        listen: `127.0.0.1:${port}`,
        upstream: `127.0.0.1:${upstreamPort}`,
        enabled: true,
      });
      const toxic = TOXICS[c];
      if (toxic)
        await call(s, 'POST', `/proxies/${name}/toxics`, { name: 't', stream: 'downstream', toxicity: 1, ...toxic });
      byServer.set(s, port);
    }
    ports.set(c, byServer);
  }
  return ports;
}

function wrk(port: number): { rps: number; requests: number } {
  const r = spawnSync('wrk', [`-t${threads}`, '-c64', `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  const total = /(\d+) requests in/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (r.status !== 0 || !total || !rps) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  if (/Non-2xx|Socket errors/.test(r.stdout)) throw new Error(`wrk saw errors: ${r.stdout}`);
  if (Number(total[1]) === 0) throw new Error(`wrk: no response in ${seconds} s`);
  return { rps: Number(rps[1]), requests: Number(total[1]) };
}

/** Each case once per server per round, the order rotating; figures[case][server] per round. */
async function interleaved<T>(
  servers: Server[],
  cases: string[],
  measure: (server: Server, c: string) => Promise<T>,
  show: (c: string, round: number, bySrv: Map<string, T>) => string,
): Promise<Map<string, Map<string, (T | undefined)[]>>> {
  const out = new Map(cases.map((c) => [c, new Map(servers.map((s) => [s.name, [] as (T | undefined)[]]))]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const got = new Map<string, T>();
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + r) % servers.length]!;
        const v = await measure(s, c).catch((err: Error) => {
          // Kept as a failed run (NaN, left out of the medians and counted), not the end of the bench.
          console.log(`round ${r + 1} ${c}: ${s.name} failed: ${err.message.split('\n')[0]}`);
          return undefined;
        });
        out.get(c)!.get(s.name)!.push(v);
        if (v === undefined) failures++;
        else got.set(s.name, v);
      }
      console.log(`round ${r + 1} ${c.padEnd(14)} ${show(c, r, got)}`);
    }
  }
  return out;
}

let failures = 0;
/** Median of the per-round ratios, over the rounds where both ran. */
const ratio = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / ys[i]!).filter((x) => Number.isFinite(x)));
/** One figure of each round, NaN where the run failed (medians leave NaN out). */
const fig = <T>(runs: (T | undefined)[], f: (v: T) => number) => runs.map((v) => (v === undefined ? Number.NaN : f(v)));
const med = (xs: number[]) => median(xs.filter((x) => !Number.isNaN(x)));
/** The tcplens servers: this checkout's, and the compared one's when there is one. */
const ours = () => servers.filter((s) => s.name !== 'toxiproxy').map((s) => s.name);

console.log(
  `machine: ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at start`,
);
const servers = [await startTcplens(), await startToxiproxy()];
for (const dir of values.compare?.split(',') ?? []) {
  const other = join(dir, 'src/cli/main.ts');
  if (!existsSync(other)) {
    console.error(`tcplens: --compare ${dir}: no src/cli/main.ts there`);
    process.exit(2);
  }
  servers.push(await startTcplens(`tcplens@${basename(dir)}`, other));
}

const TOXICS: Record<string, Toxic | undefined> = {
  none: undefined,
  'latency 0': { type: 'latency', attributes: { latency: 0 } },
  'latency 1': { type: 'latency', attributes: { latency: 1 } },
  // 1 TB/s: far above any loopback link, so it only costs what its pacing costs.
  'bandwidth max': { type: 'bandwidth', attributes: { rate: 1_000_000_000 } },
  slicer: { type: 'slicer', attributes: { average_size: 1000, size_variation: 100, delay: 10 } },
};

const rpsCases = chosen(['none', 'latency 0', 'latency 1']);
if ((values.only === undefined || values.only === 'rps') && rpsCases.length > 0) {
  const target = await startTarget(work);
  const cases = rpsCases;
  const ports = await createProxies(servers, 'http', cases, target.port);
  console.log(`\nrequests: ${target.name}; wrk -t${threads} -c64 -d${seconds}s; ${rounds} rounds, interleaved`);
  const res = await interleaved(
    servers,
    cases,
    async (s, c) => {
      const before = cpuTicks(s.pid);
      const r = wrk(ports.get(c)!.get(s)!);
      return { rps: r.rps, cpuUs: ((cpuTicks(s.pid) - before) * 1e4) / r.requests };
    },
    (_c, _r, got) =>
      [...got].map(([n, v]) => `${n} ${Math.round(v.rps)} req/s ${v.cpuUs.toFixed(1)} µs CPU/req`).join('; '),
  );
  console.log('medians (ratio: median of per-round tcplens/toxiproxy):');
  for (const c of cases) {
    for (const name of ours()) {
      const t = res.get(c)!.get(name)!;
      const x = res.get(c)!.get('toxiproxy')!;
      const [tr, tc, xr, xc] = [
        fig(t, (v) => v.rps),
        fig(t, (v) => v.cpuUs),
        fig(x, (v) => v.rps),
        fig(x, (v) => v.cpuUs),
      ];
      console.log(
        `  ${c.padEnd(14)} ${name} ${Math.round(med(tr))} req/s ${med(tc).toFixed(1)} µs/req; toxiproxy ${Math.round(med(xr))} req/s ${med(xc).toFixed(1)} µs/req; ` +
          `req/s ${ratio(tr, xr).toFixed(2)}x, CPU/req ${ratio(tc, xc).toFixed(2)}x`,
      );
    }
  }
}

const bulkCases = chosen(['none', 'latency 0', 'bandwidth max']);
if ((values.only === undefined || values.only === 'bulk') && bulkCases.length > 0) {
  const senderPort = await startSender(bulkBytes);
  const cases = bulkCases;
  const ports = await createProxies(servers, 'bulk', cases, senderPort);
  console.log(`\nbulk: ${values['bulk-gib']} GiB over one connection; ${rounds} rounds, interleaved`);
  const res = await interleaved(
    servers,
    cases,
    async (s, c) => {
      const before = cpuTicks(s.pid);
      const got = await receive(ports.get(c)!.get(s)!);
      if (got.bytes !== bulkBytes) throw new Error(`got ${got.bytes} of ${bulkBytes} bytes`);
      return { mbps: got.bytes / 1e6 / (got.ms / 1000), cpuS: (cpuTicks(s.pid) - before) / 100 };
    },
    (_c, _r, got) => [...got].map(([n, v]) => `${n} ${Math.round(v.mbps)} MB/s ${v.cpuS.toFixed(2)} CPU s`).join('; '),
  );
  console.log('medians:');
  for (const c of cases) {
    for (const name of ours()) {
      const t = fig(res.get(c)!.get(name)!, (v) => v.mbps);
      const x = fig(res.get(c)!.get('toxiproxy')!, (v) => v.mbps);
      const [tc, xc] = [fig(res.get(c)!.get(name)!, (v) => v.cpuS), fig(res.get(c)!.get('toxiproxy')!, (v) => v.cpuS)];
      console.log(
        `  ${c.padEnd(14)} ${name} ${Math.round(med(t))} MB/s ${med(tc).toFixed(2)} CPU s; toxiproxy ${Math.round(med(x))} MB/s ${med(xc).toFixed(2)} CPU s; ${ratio(t, x).toFixed(2)}x`,
      );
    }
  }
}

if ((values.only === undefined || values.only === 'slicer') && chosen(['slicer']).length > 0) {
  const bytes = 2_000_000;
  const senderPort = await startSender(bytes);
  const ports = await createProxies(servers, 'slicer', ['slicer'], senderPort);
  console.log(
    `\nslicer: 2 MB in 1000 ± 100 byte pieces, 10 µs apart; ${rounds} rounds, interleaved (the floor: 2000 pieces × 10 µs = 20 ms)`,
  );
  const res = await interleaved(
    servers,
    ['slicer'],
    async (s) => {
      const got = await receive(ports.get('slicer')!.get(s)!);
      if (got.bytes !== bytes) throw new Error(`got ${got.bytes} of ${bytes} bytes`);
      return got;
    },
    (_c, _r, got) => [...got].map(([n, v]) => `${n} ${v.ms.toFixed(0)} ms in ${v.reads} reads`).join('; '),
  );
  for (const name of ours()) {
    const t = fig(res.get('slicer')!.get(name)!, (v) => v.ms);
    const x = fig(res.get('slicer')!.get('toxiproxy')!, (v) => v.ms);
    console.log(
      `medians: ${name} ${med(t).toFixed(0)} ms; toxiproxy ${med(x).toFixed(0)} ms; elapsed ${ratio(t, x).toFixed(2)}x`,
    );
  }
}

await sleep(0);
if (failures > 0) console.log(`\n${failures} runs failed (see above) and are left out`);
console.log(
  `\nload average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
process.exit(0);
