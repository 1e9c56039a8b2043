// Benchmark: tcplens proxy (no toxics) against going direct, side by side, rounds interleaved:
// requests/s at 64 keep-alive connections (load: tcplens bench, one thread) and bulk throughput of
// one connection. The target is nginx (one worker, return 200) when present, else a Node server.
// For scale, the same load through the smallest Node proxy there is (socket.pipe both ways), and
// the CPU each proxy spends per request (from /proc/<pid>/stat), which a shared machine disturbs less
// than requests/s. Toxiproxy itself is compared only where a Go toolchain can build it.
//
//   node bench/proxy.ts [--rounds 3] [--seconds 3] [--bulk-gib 2]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    'bulk-gib': { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const bulkBytes = Number(values['bulk-gib']) * 2 ** 30;
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'src/cli/main.ts');
const node = process.execPath;
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const f of cleanups) f();
});

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** The HTTP target: nginx with one worker, or a Node server in a child process. */
async function startTarget(): Promise<{ port: number; name: string }> {
  const port = await freePort();
  if (existsSync('/usr/sbin/nginx')) {
    const dir = mkdtempSync(join(tmpdir(), 'tcplens-bench-nginx-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  server { listen 127.0.0.1:${port}; location / { return 200 "hello\\n"; } } }\n`,
    );
    const c = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    children.push(c);
    await waitForPort(port);
    return { port, name: 'nginx (1 worker, return 200)' };
  }
  const script = `require('http').createServer({keepAliveTimeout:60000},(q,s)=>s.end('hello\\n')).listen(${port},'127.0.0.1')`;
  children.push(spawn(node, ['-e', script], { stdio: 'ignore' }));
  await waitForPort(port);
  return { port, name: 'node http server' };
}

async function startProxy(upstreamPort: number): Promise<{ port: number; pid: number }> {
  const c = spawn(node, [cli, 'proxy', '--no-api', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  const [line] = (await once(c.stdout!.setEncoding('utf8'), 'data')) as [string];
  const listen = (JSON.parse(line.split('\n')[0]!) as { proxies: { listen: string }[] }).proxies[0]!.listen;
  return { port: Number(listen.split(':').pop()), pid: c.pid! };
}

/** The floor of a Node proxy: accept, dial, pipe both ways, nothing else. */
async function startPipeProxy(upstreamPort: number): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  const script =
    `const net=require('net');net.createServer({noDelay:true},c=>{const u=net.connect({port:${upstreamPort},host:'127.0.0.1',noDelay:true});` +
    `c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(${port},'127.0.0.1')`;
  const c = spawn(node, ['-e', script], { stdio: 'ignore' });
  children.push(c);
  await waitForPort(port);
  return { port, pid: c.pid! };
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function load(port: number): { rps: number; requests: number } {
  const r = spawnSync(node, [cli, 'bench', `http://127.0.0.1:${port}/`, '-w', '1', '-c', '64', '-d', String(seconds), '--no-kernel', '--json'], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  if (r.status !== 0) throw new Error(`bench failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout) as { requests: { perSecond: number; failed: number; total: number } };
  if (result.requests.failed > 0) throw new Error(`${result.requests.failed} requests failed`);
  return { rps: result.requests.perSecond, requests: result.requests.total };
}

/** A server that sends `bulkBytes` to each connection, then closes it. */
async function startSource(): Promise<{ port: number; close(): void }> {
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  const source = createServer((s) => {
    let sent = 0;
    const pump = () => {
      while (sent < bulkBytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  }).listen(0, '127.0.0.1');
  await once(source, 'listening');
  return { port: (source.address() as { port: number }).port, close: () => source.close() };
}

/** GB/s of one connection reading everything the source sends, through `port`. */
async function bulk(port: number): Promise<number> {
  const start = performance.now();
  const c = connect(port, '127.0.0.1');
  let got = 0;
  c.on('data', (d: Buffer) => (got += d.length));
  await once(c, 'end');
  const seconds = (performance.now() - start) / 1000;
  if (got !== bulkBytes) throw new Error(`bulk: got ${got} of ${bulkBytes}`);
  return got / seconds / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const target = await startTarget();
const ours = await startProxy(target.port);
const floor = await startPipeProxy(target.port);
const os = await import('node:os');
console.log(`target: ${target.name}; load: tcplens bench -w 1 -c 64 -d ${seconds} (keep-alive); ${rounds} rounds, interleaved`);
console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (shared with other work: figures are noisy)\n`);
type Way = 'direct' | 'tcplens proxy' | 'node pipe() proxy';
const ways: { name: Way; port: number; pid?: number }[] = [
  { name: 'direct', port: target.port },
  { name: 'tcplens proxy', port: ours.port, pid: ours.pid },
  { name: 'node pipe() proxy', port: floor.port, pid: floor.pid },
];
const rps = new Map<Way, number[]>(ways.map((w) => [w.name, []]));
const cpuPerRequest = new Map<Way, number[]>(ways.map((w) => [w.name, []]));
for (let r = 0; r < rounds; r++) {
  // Rotate which goes first, so that a drift of the machine hits all alike.
  const order = ways.map((_, i) => ways[(i + r) % ways.length]!);
  const parts: string[] = [];
  for (const way of order) {
    const before = way.pid ? cpuSeconds(way.pid) : 0;
    const result = load(way.port);
    rps.get(way.name)!.push(result.rps);
    if (way.pid) cpuPerRequest.get(way.name)!.push(((cpuSeconds(way.pid) - before) / result.requests) * 1e6);
  }
  for (const way of ways) {
    const cpu = cpuPerRequest.get(way.name)!.at(-1);
    parts.push(`${way.name} ${Math.round(rps.get(way.name)!.at(-1)!)} req/s${cpu === undefined ? '' : ` (${cpu.toFixed(1)} µs CPU/req)`}`);
  }
  const ratio = rps.get('tcplens proxy')!.at(-1)! / rps.get('direct')!.at(-1)!;
  console.log(`round ${r + 1}: ${parts.join(', ')}; proxy/direct ${ratio.toFixed(2)}x`);
}
const med = (w: Way) => median(rps.get(w)!);
console.log(
  `median: direct ${Math.round(med('direct'))} req/s, tcplens proxy ${Math.round(med('tcplens proxy'))} req/s (${median(cpuPerRequest.get('tcplens proxy')!).toFixed(1)} µs CPU/req), ` +
    `node pipe() ${Math.round(med('node pipe() proxy'))} req/s (${median(cpuPerRequest.get('node pipe() proxy')!).toFixed(1)} µs CPU/req); ` +
    `tcplens proxy/direct ${(med('tcplens proxy') / med('direct')).toFixed(2)}x (goal >= 0.7x)\n`,
);

// Bulk: the proxy in its own process, as above; both ends in this one.
const source = await startSource();
const bulkProxyPort = (await startProxy(source.port)).port;
const bulkDirect: number[] = [];
const bulkProxy: number[] = [];
for (let r = 0; r < rounds; r++) {
  bulkDirect.push(await bulk(source.port));
  bulkProxy.push(await bulk(bulkProxyPort));
  console.log(`bulk round ${r + 1} (${values['bulk-gib']} GiB, one connection): direct ${bulkDirect.at(-1)!.toFixed(2)} GB/s, through tcplens proxy ${bulkProxy.at(-1)!.toFixed(2)} GB/s`);
}
source.close();
console.log(`bulk median: direct ${median(bulkDirect).toFixed(2)} GB/s, proxy ${median(bulkProxy).toFixed(2)} GB/s (goal >= 1 GB/s)\n`);

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
console.log(go.error ? 'Toxiproxy itself: skipped (no Go toolchain here to build it)' : `Toxiproxy itself: ${go.stdout.trim()} present; build it from github.com/Shopify/toxiproxy and rerun with its port to compare`);
process.exit(0);
