// Benchmark: what `tcplens trace --events drop` costs a host that drops nothing. Keep-alive load from
// `tcplens bench` against `tcplens serve` in a network namespace of its own, in rounds that alternate
// without and with the drop trace running (A B A B …); prints requests/s per round, the medians and
// their ratio (with / without). Needs root and bpftrace.
//
//   node bench/trace-drop-cost.ts [--seconds 5] [--rounds 3] [--connections 16] [--port 18480]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { machineLine } from './lib/machine-line.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    port: { type: 'string', default: '18480' },
  },
});
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
if (process.getuid?.() !== 0) {
  console.error('bench/trace-drop-cost.ts needs root (bpftrace, a network namespace)');
  process.exit(2);
}

const ns = createNetns('tcplens-bench-dropcost');
const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  ns.close();
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const port = values.port!;
  const serve = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, MAIN, 'serve', '--port', port, '--json', '--max-requests-per-socket', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(serve);
  await once(createInterface({ input: serve.stdout! }), 'line');
  console.log(`drop tracing cost: tcplens bench -c ${values.connections} keep-alive against tcplens serve on 127.0.0.1:${port} in ${ns.name}, ${values.seconds} s per round`);
  console.log(`${machineLine()}\n`);

  const benchRound = (): number => {
    const r = spawnSync(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, MAIN, 'bench', `http://127.0.0.1:${port}/`, '-d', values.seconds!, '-c', values.connections!, '--json', '--no-kernel'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`bench failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { requests: { perSecond: number } }).requests.perSecond;
  };

  const without: number[] = [];
  const withDrop: number[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    without.push(benchRound());
    console.log(`round ${i + 1} without trace:          ${Math.round(without.at(-1)!).toLocaleString('en-US')} req/s`);
    const trace = spawn(process.execPath, [MAIN, 'trace', '--json', '--events', 'drop', '--port', port], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(trace);
    const lines = createInterface({ input: trace.stdout! });
    await once(lines, 'line'); // {"type":"start"}: the probes are attached
    withDrop.push(benchRound());
    trace.kill('SIGINT');
    await once(trace, 'close');
    console.log(`round ${i + 1} with trace --events drop: ${Math.round(withDrop.at(-1)!).toLocaleString('en-US')} req/s`);
  }
  const a = median(without);
  const b = median(withDrop);
  console.log(`\nmedian req/s: without ${Math.round(a).toLocaleString('en-US')}, with trace --events drop ${Math.round(b).toLocaleString('en-US')}; ratio ${(b / a).toFixed(3)}x`);
} finally {
  cleanup();
}
