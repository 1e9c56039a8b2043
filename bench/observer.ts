// Benchmark: the cost of observeConnections() on a node:http server — requests/s with and without
// it, 64 keep-alive connections from tcplens bench, runs interleaved. Goal: at least 0.95x.
// Throughput on a shared machine swings by 2x between runs, so the server's own CPU time per
// request (from /proc/<pid>/stat) is reported too: it is what the observer adds to.
//
//   npm run build && node bench/observer.ts [--rounds 5] [--seconds 5]

import { parseArgs } from 'node:util';
import { runPinnedLoad } from './lib/pinned-load.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '5' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const serverScript = new URL('./lib/observed-server.ts', import.meta.url).pathname;

const once_ = (mode: 'bare' | 'observed') =>
  runPinnedLoad({ server: [process.execPath, serverScript, mode], portOf: Number, cli, path: '/', seconds });

const results = { bare: [] as number[], observed: [] as number[] };
const cpu = { bare: [] as number[], observed: [] as number[] };
for (let i = 0; i < rounds; i++) {
  const order: ('bare' | 'observed')[] = i % 2 ? ['observed', 'bare'] : ['bare', 'observed'];
  for (const mode of order) {
    const r = await once_(mode);
    results[mode].push(r.rps);
    cpu[mode].push(r.cpuUsPerRequest);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const bare = median(results.bare);
const observed = median(results.observed);
console.log(`node:http server, 64 keep-alive connections, ${seconds} s runs, median of ${rounds}, interleaved`);
console.log(
  `  bare                      ${Math.round(bare).toLocaleString('en-US').padStart(8)} req/s  [${results.bare.map((x) => Math.round(x)).join(' ')}]`,
);
console.log(
  `  with observeConnections   ${Math.round(observed).toLocaleString('en-US').padStart(8)} req/s  [${results.observed.map((x) => Math.round(x)).join(' ')}]`,
);
console.log(`  observed/bare = ${(observed / bare).toFixed(3)}x (throughput, medians)`);
// Paired: each round's two runs are back to back, so their ratio is spared the slow drift of a
// shared machine; the median of those ratios is the figure to trust.
const paired = results.bare.map((b, i) => results.observed[i]! / b);
console.log(
  `  paired per round: median observed/bare = ${median(paired).toFixed(3)}x  [${paired.map((x) => x.toFixed(2)).join(' ')}]`,
);
const cb = median(cpu.bare);
const co = median(cpu.observed);
console.log(
  `  server CPU per request: bare ${cb.toFixed(1)} µs, observed ${co.toFixed(1)} µs → bare/observed = ${(cb / co).toFixed(3)}x`,
);
