// Benchmark: `tcplens bench` against wrk and autocannon on the reference target (nginx, one worker,
// return 200), side by side, rounds interleaved. Each run gets a network namespace of its own with
// its own nginx, so every run starts with no TIME_WAIT left by the one before. Needs root, nginx,
// wrk (Debian: nginx-light wrk).
//
//   npm run build && node bench/http.ts [--rounds 5] [--seconds 5]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/cli/main.js');
const autocannon = join(root, 'node_modules/.bin/autocannon');
for (const [what, path] of [
  ['build first: npm run build', cli],
  ['nginx is missing: apt-get install nginx-light', '/usr/sbin/nginx'],
  ['wrk is missing: apt-get install wrk', '/usr/bin/wrk'],
] as const) {
  if (!existsSync(path)) {
    console.error(what);
    process.exit(2);
  }
}
const node = process.execPath;
const url = 'http://127.0.0.1:8080/';

interface Tool {
  name: string;
  argv: string[];
  rps: (stdout: string) => number;
}

const wrkRps = (out: string) => Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
const tcplensRps = (out: string) => (JSON.parse(out) as { requests: { perSecond: number } }).requests.perSecond;
const autocannonRps = (out: string) => (JSON.parse(out) as { requests: { average: number } }).requests.average;

const groups: Record<string, Tool[]> = {
  'keep-alive, 64 connections, one thread each': [
    { name: 'tcplens bench -w 1 -c 64', argv: [node, cli, 'bench', url, '-w', '1', '-c', '64', '-d', String(seconds), '--json'], rps: tcplensRps },
    {
      name: 'tcplens bench -w 1 -c 64 --no-kernel',
      argv: [node, cli, 'bench', url, '-w', '1', '-c', '64', '-d', String(seconds), '--no-kernel', '--json'],
      rps: tcplensRps,
    },
    { name: 'wrk -t1 -c64', argv: ['wrk', '-t1', '-c64', `-d${seconds}s`, url], rps: wrkRps },
    { name: 'autocannon -c 64', argv: [node, autocannon, '-c', '64', '-d', String(seconds), '--json', url], rps: autocannonRps },
  ],
  'a new connection per request, 32 connections': [
    {
      name: 'tcplens bench --no-keepalive -c 32',
      argv: [node, cli, 'bench', url, '--no-keepalive', '-w', '1', '-c', '32', '-d', String(seconds), '--json'],
      rps: tcplensRps,
    },
    {
      name: 'tcplens bench --no-keepalive -c 32 --no-kernel',
      argv: [node, cli, 'bench', url, '--no-keepalive', '-w', '1', '-c', '32', '-d', String(seconds), '--no-kernel', '--json'],
      rps: tcplensRps,
    },
    { name: "wrk -t1 -c32 -H 'Connection: close'", argv: ['wrk', '-t1', '-c32', `-d${seconds}s`, '-H', 'Connection: close', url], rps: wrkRps },
  ],
};

const NGINX_CONF = (dir: string) => `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 10000000;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:8080 backlog=4096; location / { return 200 "hello world\\n"; } } }
`;

async function once(tool: Tool): Promise<number> {
  const ns = createNetns('tcplens-bench-http');
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-nginx-'));
  const nginx = spawn('ip', ['netns', 'exec', ns.name, 'nginx', '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  try {
    writeFileSync(join(dir, 'nginx.conf'), NGINX_CONF(dir));
    // Wait for nginx to listen.
    for (let i = 0; i < 50; i++) {
      const r = spawnSync('ip', ['netns', 'exec', ns.name, 'ss', '-ltnH', 'sport = :8080'], { encoding: 'utf8' });
      if (r.stdout.includes('8080')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const r = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, ...tool.argv], { encoding: 'utf8', timeout: (seconds + 30) * 1000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${tool.name} failed: ${r.stderr}`);
    return tool.rps(r.stdout);
  } finally {
    nginx.kill('SIGKILL');
    spawnSync('pkill', ['-f', join(dir, 'nginx.conf')]);
    ns.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const [title, tools] of Object.entries(groups)) {
  if (values.only && !title.includes(values.only)) continue;
  const results = new Map(tools.map((t) => [t.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < tools.length; k++) {
      const tool = tools[(round + k) % tools.length]!;
      results.get(tool.name)!.push(await once(tool));
    }
  }
  const ours = median(results.get(tools[0]!.name)!);
  console.log(`${title} — nginx (1 worker) in a fresh namespace per run, ${seconds} s runs, median of ${rounds}, interleaved`);
  for (const t of tools) {
    const xs = results.get(t.name)!;
    const m = median(xs);
    const ratio = t === tools[0] ? '' : `   tcplens/this = ${(ours / m).toFixed(2)}x`;
    console.log(`  ${t.name.padEnd(48)} ${Math.round(m).toLocaleString('en-US').padStart(8)} req/s  [${xs.map((x) => Math.round(x / 100) / 10 + 'k').join(' ')}]${ratio}`);
  }
  console.log();
}
