// Benchmark: tcplens proxy (no toxics) against going direct, side by side, rounds interleaved:
// requests/s at 64 keep-alive connections (load: tcplens bench, one thread; or wrk) and bulk
// throughput of one connection. The target is nginx (one worker, return 200) when present, else a
// Node server. For scale, the same load through other proxies in the same rounds: the smallest Node
// proxy (socket.pipe both ways), a minimal C proxy (bench/proxy-floor.c, when gcc is here: the floor
// any proxy pays the kernel on these cores) and socat (when installed; Debian: socat). The CPU each
// proxy spends per request (from /proc/<pid>/stat, children included) is printed too: a shared
// machine disturbs it less than requests/s.
//
// Bulk: a sender process, the proxy in its own, a receiver process (reads into one reused buffer):
// no two share an event loop (with both ends in one process, 'direct' itself stopped near 1 GB/s).
//
//   node bench/proxy.ts [--rounds 3] [--seconds 3] [--bulk-gib 2] [--load tcplens|wrk] [--cpu-prof DIR] [--baseline DIR [--pair]] [--latency MS] [--only rps|bulk]
//
// --cpu-prof runs the tcplens proxy under node --cpu-prof and prints its hottest functions at the end.
// --baseline adds the proxy of another copy of tcplens to the rounds (before/after on the same machine
// state), e.g. DIR from `git archive <commit> | tar -x -C DIR` with node_modules linked in.
// --latency puts a latency toxic of MS ms on every tcplens proxy of the rounds (the baseline's too).
// --pair keeps only direct, tcplens and the baseline: more rounds in the same time for a before/after ratio.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, median, receive, sleep, start, startSender, startTarget, waitForPort } from './lib/proxy-ends.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    'bulk-gib': { type: 'string', default: '2' },
    load: { type: 'string', default: 'tcplens' },
    'cpu-prof': { type: 'string' },
    baseline: { type: 'string' },
    latency: { type: 'string' },
    pair: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const bulkBytes = Math.round(Number(values['bulk-gib']) * 2 ** 30);
const loadTool = values.load === 'wrk' ? 'wrk' : 'tcplens';
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'src/cli/main.ts');
const node = process.execPath;
const work = mkdtempSync(join(tmpdir(), 'tcplens-bench-proxy-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

interface Running {
  port: number;
  pid: number;
  child: ChildProcess;
}

async function startTcplens(upstreamPort: number, profileDir?: string, main = cli): Promise<Running> {
  const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const toxic = values.latency === undefined ? [] : ['--latency', values.latency];
  const c = start(node, [
    ...prof,
    main,
    'proxy',
    '--no-api',
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    `127.0.0.1:${upstreamPort}`,
    ...toxic,
    '--json',
  ]);
  const [line] = (await once(c.stdout!.setEncoding('utf8'), 'data')) as [string];
  const listen = (JSON.parse(line.split('\n')[0]!) as { proxies: { listen: string }[] }).proxies[0]!.listen;
  return { port: Number(listen.split(':').pop()), pid: c.pid!, child: c };
}

/** The floor of a Node proxy: accept, dial, pipe both ways, nothing else. */
async function startPipeProxy(upstreamPort: number): Promise<Running> {
  const port = await freePort();
  const script =
    `const net=require('net');net.createServer({noDelay:true},c=>{const u=net.connect({port:${upstreamPort},host:'127.0.0.1',noDelay:true});` +
    `c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${port},'127.0.0.1')`;
  const c = start(node, ['-e', script]);
  await waitForPort(port);
  return { port, pid: c.pid!, child: c };
}

/** bench/proxy-floor.c built here, or undefined without gcc. */
function buildFloor(): string | undefined {
  const binary = join(work, 'proxy-floor');
  const r = spawnSync('gcc', ['-O2', '-o', binary, join(root, 'bench/proxy-floor.c')], { encoding: 'utf8' });
  return r.status === 0 ? binary : undefined;
}

async function startFloor(binary: string, upstreamPort: number): Promise<Running> {
  const port = await freePort();
  const c = start(binary, [String(port), String(upstreamPort)]);
  await waitForPort(port);
  return { port, pid: c.pid!, child: c };
}

const SOCAT = '/usr/bin/socat';

/**
 * socat forks a process per connection: their CPU lands in its children's counts when they exit.
 * Its stderr is dropped: it reports each connection the load generator closes mid-response.
 */
async function startSocat(upstreamPort: number): Promise<Running> {
  const port = await freePort();
  const c = start(
    SOCAT,
    [
      '-b',
      '262144',
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=4096`,
      `TCP:127.0.0.1:${upstreamPort},nodelay`,
    ],
    'ignore',
  );
  await waitForPort(port);
  return { port, pid: c.pid!, child: c };
}

/** CPU seconds (user + system) a process and its reaped children have used. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

function load(port: number): { rps: number; requests: number } {
  if (loadTool === 'wrk') {
    const r = spawnSync('wrk', ['-t1', '-c64', `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
    });
    const total = /(\d+) requests in/.exec(r.stdout);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (r.status !== 0 || !total || !rps) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
    if (/Non-2xx|Socket errors/.test(r.stdout)) throw new Error(`wrk saw errors: ${r.stdout}`);
    return { rps: Number(rps[1]), requests: Number(total[1]) };
  }
  const r = spawnSync(
    node,
    [cli, 'bench', `http://127.0.0.1:${port}/`, '-w', '1', '-c', '64', '-d', String(seconds), '--no-kernel', '--json'],
    {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
    },
  );
  if (r.status !== 0) throw new Error(`bench failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout) as { requests: { perSecond: number; failed: number; total: number } };
  if (result.requests.failed > 0) throw new Error(`${result.requests.failed} requests failed`);
  return { rps: result.requests.perSecond, requests: result.requests.total };
}

interface Way {
  name: string;
  /** Starts it in front of `upstreamPort`. */
  start?: (upstreamPort: number) => Promise<Running>;
}

const profileDir = values['cpu-prof'];
const floorBinary = buildFloor();
const ways: Way[] = [
  { name: 'direct' },
  { name: 'tcplens proxy', start: (p) => startTcplens(p, profileDir) },
  { name: 'node pipe() proxy', start: startPipeProxy },
];
if (values.baseline)
  ways.splice(2, 0, {
    name: 'tcplens baseline',
    start: (p) => startTcplens(p, undefined, join(values.baseline!, 'src/cli/main.ts')),
  });
if (values.pair)
  ways.splice(
    ways.findIndex((w) => w.name === 'node pipe() proxy'),
    1,
  );
if (floorBinary && !values.pair) ways.push({ name: 'C floor proxy', start: (p) => startFloor(floorBinary, p) });
if (existsSync(SOCAT) && !values.pair) ways.push({ name: 'socat', start: startSocat });

console.log(
  `machine: ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (shared with other work: figures are noisy)`,
);
if (!floorBinary) console.log('C floor proxy: skipped (no gcc)');
if (!existsSync(SOCAT)) console.log('socat: skipped (not installed; Debian: apt-get install socat)');

/**
 * `measure` once per way and round, rotating which goes first so that a drift of the machine hits
 * all alike; it returns the work done (requests, GiB), and each proxy's CPU per unit of it is kept.
 */
async function interleaved(
  running: Map<string, Running | undefined>,
  measure: (way: string, port: number) => Promise<number> | number,
  each: (round: number) => void,
): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < ways.length; i++) {
      const way = ways[(i + r) % ways.length]!;
      const proc = running.get(way.name);
      const before = proc ? cpuSeconds(proc.pid) : 0;
      const amount = await (async () => measure(way.name, proc ? proc.port : directPort))().catch((err: Error) => {
        throw new Error(`through ${way.name}: ${err.message}`);
      });
      if (proc) {
        await sleep(200); // socat's children exit and are reaped
        cpu.get(way.name)!.push((cpuSeconds(proc.pid) - before) / amount);
      }
    }
    each(r);
  }
}

let directPort = 0;
const cpu = new Map<string, number[]>();
const resetCpu = () => {
  for (const w of ways) cpu.set(w.name, []);
};
const ratios = (xs: Map<string, number[]>, a: string, b: string) => xs.get(a)!.map((x, i) => x / xs.get(b)![i]!);
const profiled: Running[] = [];

async function startAll(upstreamPort: number): Promise<Map<string, Running | undefined>> {
  const running = new Map<string, Running | undefined>();
  for (const w of ways) running.set(w.name, w.start ? await w.start(upstreamPort) : undefined);
  if (profileDir) profiled.push(running.get('tcplens proxy')!);
  return running;
}

if (values.only !== 'bulk') {
  const target = await startTarget(work);
  directPort = target.port;
  const running = await startAll(target.port);
  const loadName = loadTool === 'wrk' ? 'wrk -t1 -c64' : 'tcplens bench -w 1 -c 64';
  const withToxic = values.latency === undefined ? '' : `; tcplens proxies with a ${values.latency} ms latency toxic`;
  console.log(
    `\nrequests: target ${target.name}; load ${loadName} -d ${seconds} (keep-alive); ${rounds} rounds, interleaved${withToxic}`,
  );
  const rps = new Map<string, number[]>(ways.map((w) => [w.name, []]));
  resetCpu();
  await interleaved(
    running,
    (way, port) => {
      const r = load(port);
      rps.get(way)!.push(r.rps);
      return r.requests;
    },
    (r) => {
      const direct = rps.get('direct')![r]!;
      const parts = ways.map((w) => {
        const x = rps.get(w.name)![r]!;
        return w.name === 'direct'
          ? `direct ${Math.round(x)}`
          : `${w.name} ${Math.round(x)} (${(x / direct).toFixed(2)}x, ${(cpu.get(w.name)![r]! * 1e6).toFixed(1)} µs CPU/req)`;
      });
      console.log(`round ${r + 1}: ${parts.join('; ')}`);
    },
  );
  console.log('medians: requests/s; ratio to direct (median of the rounds); proxy CPU per request');
  for (const w of ways) {
    if (w.name === 'direct') console.log(`  direct              ${Math.round(median(rps.get('direct')!))}`);
    else
      console.log(
        `  ${w.name.padEnd(19)} ${String(Math.round(median(rps.get(w.name)!))).padStart(6)}  ${median(ratios(rps, w.name, 'direct')).toFixed(2)}x  ${(median(cpu.get(w.name)!) * 1e6).toFixed(1)} µs`,
      );
  }
  console.log(`tcplens proxy/direct ${median(ratios(rps, 'tcplens proxy', 'direct')).toFixed(2)}x (goal >= 0.7x)`);
  if (values.baseline) {
    console.log(
      `tcplens proxy/baseline ${median(ratios(rps, 'tcplens proxy', 'tcplens baseline')).toFixed(3)}x in requests/s, ` +
        `${median(ratios(cpu, 'tcplens proxy', 'tcplens baseline')).toFixed(3)}x in CPU per request (medians of the per-round ratios)`,
    );
  }
  if (floorBinary && !values.pair) {
    console.log(
      `tcplens proxy/C floor ${median(ratios(rps, 'tcplens proxy', 'C floor proxy')).toFixed(2)}x in requests/s, ` +
        `${median(ratios(cpu, 'tcplens proxy', 'C floor proxy')).toFixed(2)}x in CPU per request; C floor/direct ${median(ratios(rps, 'C floor proxy', 'direct')).toFixed(2)}x`,
    );
  }
}

if (values.only !== 'rps') {
  // Sender, proxy and receiver each in a process of its own.
  const senderPort = await startSender(bulkBytes);
  directPort = senderPort;
  const running = await startAll(senderPort);
  console.log(
    `\nbulk: ${values['bulk-gib']} GiB over one connection, a sender and a receiver process; ${rounds} rounds, interleaved`,
  );
  const gbps = new Map<string, number[]>(ways.map((w) => [w.name, []]));
  resetCpu();
  await interleaved(
    running,
    async (way, port) => {
      const got = await receive(port);
      if (got.bytes !== bulkBytes) throw new Error(`bulk: got ${got.bytes} of ${bulkBytes}`);
      gbps.get(way)!.push(got.bytes / (got.ms / 1000) / 1e9);
      return bulkBytes / 2 ** 30;
    },
    (r) => {
      const parts = ways.map(
        (w) =>
          `${w.name} ${gbps.get(w.name)![r]!.toFixed(2)}${w.name === 'direct' ? '' : ` (${cpu.get(w.name)![r]!.toFixed(2)} CPU s/GiB)`}`,
      );
      console.log(`bulk round ${r + 1}, GB/s: ${parts.join('; ')}`);
    },
  );
  console.log(
    `bulk medians, GB/s: ${ways.map((w) => `${w.name} ${median(gbps.get(w.name)!).toFixed(2)}${w.name === 'direct' ? '' : ` (${median(cpu.get(w.name)!).toFixed(2)} CPU s/GiB)`}`).join('; ')}; tcplens goal >= 1 GB/s`,
  );
}

console.log('\nAgainst the real Toxiproxy, with and without toxics: bench/proxy-toxiproxy.ts');

if (profileDir) {
  // The profiled proxies write their profiles when they exit.
  for (const r of profiled) {
    r.child.kill('SIGINT');
    await once(r.child, 'exit');
  }
  for (const file of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')))
    printProfile(join(profileDir, file));
}
process.exit(0);

/** The functions with the most self time in a .cpuprofile, idle left out. */
function printProfile(file: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') return;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
    busy += p.timeDeltas[i] ?? 0;
  });
  console.log(`\n${file}: ${(busy / 1e6).toFixed(1)} s busy; self time:`);
  for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${((t / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
