// Benchmark: the cost of observeConnections() on a node:http server — requests/s with and without
// it, 64 keep-alive connections from tcplens bench, runs interleaved. Goal: at least 0.95x.
//
//   npm run build && node bench/observer.ts [--rounds 5] [--seconds 5]

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const serverScript = new URL('./lib/observed-server.ts', import.meta.url).pathname;

async function once_(mode: 'bare' | 'observed'): Promise<number> {
  const server = spawn(process.execPath, [serverScript, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    const r = spawnSync(process.execPath, [cli, 'bench', `http://127.0.0.1:${line}/`, '-c', '64', '-d', String(seconds), '--no-kernel', '--json'], {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as { requests: { perSecond: number } }).requests.perSecond;
  } finally {
    server.kill('SIGTERM');
  }
}

const results = { bare: [] as number[], observed: [] as number[] };
for (let i = 0; i < rounds; i++) {
  const order: ('bare' | 'observed')[] = i % 2 ? ['observed', 'bare'] : ['bare', 'observed'];
  for (const mode of order) results[mode].push(await once_(mode));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const bare = median(results.bare);
const observed = median(results.observed);
console.log(`node:http server, 64 keep-alive connections, ${seconds} s runs, median of ${rounds}, interleaved`);
console.log(`  bare                      ${Math.round(bare).toLocaleString('en-US').padStart(8)} req/s  [${results.bare.map((x) => Math.round(x)).join(' ')}]`);
console.log(`  with observeConnections   ${Math.round(observed).toLocaleString('en-US').padStart(8)} req/s  [${results.observed.map((x) => Math.round(x)).join(' ')}]`);
console.log(`  observed/bare = ${(observed / bare).toFixed(3)}x`);
