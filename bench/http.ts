// Benchmark: `tcplens bench` against wrk and autocannon on the reference target (nginx, one worker,
// return 200), side by side, rounds interleaved. Each run gets a network namespace of its own with
// its own nginx, so every run starts with no TIME_WAIT left by the one before. Needs root, nginx,
// wrk (Debian: nginx-light wrk).
//
//   node bench/http.ts [--rounds 5] [--seconds 5] [--connections 64] [--only close] [--threads] [--dist]
//
// --threads adds two-thread runs in close mode (tcplens -w 2, wrk -t2); tcplens's own default
// against a target on this host is -w 1 (the server needs the other core).
// Run-to-run swings on a shared machine are large (2x): use --rounds 10 or more for a verdict.
// --dist runs the built CLI (npm run build) instead of the sources.
// The machine is shared and noisy: compare the ratios of one round (runs side by side), not
// absolute figures across rounds; the per-round ratios are printed with their median and minimum.

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
    connections: { type: 'string', default: '64' },
    only: { type: 'string' },
    threads: { type: 'boolean', default: false },
    dist: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const c = String(Number(values.connections));
const root = new URL('..', import.meta.url).pathname;
const cli = values.dist ? join(root, 'dist/cli/main.js') : join(root, 'src/cli/main.ts');
const autocannon = join(root, 'node_modules/.bin/autocannon');
for (const [what, path] of [
  ['build first: npm run build (or leave out --dist)', cli],
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
const d = String(seconds);

interface Tool {
  name: string;
  argv: string[];
  rps: (stdout: string) => number;
  /** Not a reference: compared with the references, not a reference for the others. */
  ours?: boolean;
}

const wrkRps = (out: string) => Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
const tcplensRps = (out: string) => (JSON.parse(out) as { requests: { perSecond: number } }).requests.perSecond;
const autocannonRps = (out: string) => (JSON.parse(out) as { requests: { average: number } }).requests.average;
const tcplens = (name: string, ...args: string[]): Tool => ({
  name: `tcplens bench ${name}`.trim(),
  argv: [node, cli, 'bench', url, '-c', c, '-d', d, ...args, '--json'],
  rps: tcplensRps,
  ours: true,
});
const wrk = (threads: number, close: boolean): Tool => ({
  name: `wrk -t${threads} -c${c}${close ? " -H 'Connection: close'" : ''}`,
  argv: ['wrk', `-t${threads}`, `-c${c}`, `-d${seconds}s`, ...(close ? ['-H', 'Connection: close'] : []), url],
  rps: wrkRps,
});

const groups: Record<string, Tool[]> = {
  [`keep-alive, ${c} connections`]: [
    tcplens(`-w 1 -c ${c}`, '-w', '1'),
    tcplens(`-w 1 -c ${c} --no-kernel`, '-w', '1', '--no-kernel'),
    wrk(1, false),
    { name: `autocannon -c ${c}`, argv: [node, autocannon, '-c', c, '-d', d, '--json', url], rps: autocannonRps },
  ],
  [`close: a new connection per request, ${c} connections`]: [
    tcplens(`--no-keepalive -w 1 -c ${c}`, '--no-keepalive', '-w', '1'),
    tcplens(`--no-keepalive -w 1 -c ${c} --no-kernel`, '--no-keepalive', '-w', '1', '--no-kernel'),
    ...(values.threads ? [tcplens(`--no-keepalive -w 2 -c ${c}`, '--no-keepalive', '-w', '2')] : []),
    wrk(1, true),
    ...(values.threads ? [wrk(2, true)] : []),
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
    const r = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, ...tool.argv], {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`${tool.name} failed: ${r.stderr}`);
    return tool.rps(r.stdout);
  } finally {
    // ns.close() kills what runs inside (nginx's master and worker) before deleting the namespace.
    nginx.kill('SIGKILL');
    ns.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const k = (x: number) => `${(x / 1000).toFixed(1)}k`;
const x = (r: number) => `${r.toFixed(2)}x`;

for (const [title, tools] of Object.entries(groups)) {
  if (values.only && !title.includes(values.only)) continue;
  const results = new Map(tools.map((t) => [t.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    // A different tool goes first in each round.
    for (let i = 0; i < tools.length; i++) {
      const tool = tools[(round + i) % tools.length]!;
      results.get(tool.name)!.push(await once(tool));
    }
  }
  console.log(
    `${title}: nginx (1 worker) in a fresh namespace per run, ${seconds} s runs, ${rounds} rounds interleaved`,
  );
  console.log(`  ${'requests/s'.padStart(56)}   median   min      max      per round`);
  for (const t of tools) {
    const xs = results.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(56)} ${Math.round(median(xs)).toLocaleString('en-US').padStart(8)} ${k(Math.min(...xs)).padStart(8)} ${k(Math.max(...xs)).padStart(8)}   [${xs.map(k).join(' ')}]`,
    );
  }
  console.log('  ratios, per round (same round, side by side):');
  for (const ours of tools.filter((t) => t.ours)) {
    for (const ref of tools.filter((t) => !t.ours)) {
      const a = results.get(ours.name)!;
      const b = results.get(ref.name)!;
      const ratios = a.map((v, i) => v / b[i]!);
      console.log(
        `    ${ours.name} / ${ref.name}: median ${x(median(ratios))}, min ${x(Math.min(...ratios))}  [${ratios.map(x).join(' ')}]`,
      );
    }
  }
  console.log();
}
