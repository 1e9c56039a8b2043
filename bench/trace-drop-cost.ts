// Benchmark: what `tcplens trace --events drop` costs a host that drops nothing. Keep-alive load from
// `tcplens bench` against `tcplens serve` in a network namespace of its own, in rounds that alternate
// without and with the drop trace running (A B A B …); prints requests/s per round, the medians and
// their ratio (with / without). Throughput swings with the machine's load, so each round also gives
// the CPU that serve and bench spent per request (the kernel's TCP work on loopback, probes
// included, runs in their time): its ratio tells a probe's cost apart from a busy neighbour. The
// trace's own CPU (tcplens and its bpftrace) is shown too. Needs root and bpftrace.
//
//   node bench/trace-drop-cost.ts [--seconds 5] [--rounds 3] [--connections 16] [--port 18480]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createNetns } from '../src/kernel/netns.ts';
import { cpuSeconds } from './lib/cpu-ticks.ts';
import { onlyChild } from './lib/only-child.ts';
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
  const serve = spawn(
    ns.exec[0]!,
    [...ns.exec.slice(1), process.execPath, MAIN, 'serve', '--port', port, '--json', '--max-requests-per-socket', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(serve);
  await once(createInterface({ input: serve.stdout! }), 'line');
  console.log(
    `drop tracing cost: tcplens bench -c ${values.connections} keep-alive against tcplens serve on 127.0.0.1:${port} in ${ns.name}, ${values.seconds} s per round`,
  );
  console.log(`${machineLine()}\n`);

  const timeFile = `/tmp/tcplens-bench-dropcost-${process.pid}.time`;
  /** One bench run: requests/s, and µs of CPU (serve's and bench's, user + system) per request. */
  const benchRound = (): { perSecond: number; cpuUsPerRequest: number } => {
    const serveBefore = cpuSeconds(serve.pid!);
    const r = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        '%U %S',
        '-o',
        timeFile,
        ...ns.exec,
        process.execPath,
        MAIN,
        'bench',
        `http://127.0.0.1:${port}/`,
        '-d',
        values.seconds!,
        '-c',
        values.connections!,
        '--json',
        '--no-kernel',
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (r.status !== 0) throw new Error(`bench failed: ${r.stderr}`);
    const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number) as [
      number,
      number,
    ];
    const result = JSON.parse(r.stdout) as { requests: { perSecond: number } };
    const perSecond = result.requests.perSecond;
    const requests = perSecond * Number(values.seconds);
    return { perSecond, cpuUsPerRequest: ((cpuSeconds(serve.pid!) - serveBefore + user + system) / requests) * 1e6 };
  };
  const show = (r: { perSecond: number; cpuUsPerRequest: number }) =>
    `${Math.round(r.perSecond).toLocaleString('en-US').padStart(7)} req/s, ${r.cpuUsPerRequest.toFixed(1)} µs CPU/request`;

  const without: { perSecond: number; cpuUsPerRequest: number }[] = [];
  const withDrop: { perSecond: number; cpuUsPerRequest: number }[] = [];
  const traceCpu: number[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    without.push(benchRound());
    console.log(`round ${i + 1} without trace:          ${show(without.at(-1)!)}`);
    const trace = spawn(process.execPath, [MAIN, 'trace', '--json', '--events', 'drop', '--port', port], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(trace);
    const lines = createInterface({ input: trace.stdout! });
    await once(lines, 'line'); // {"type":"start"}: the probes are attached
    const tracePids = [trace.pid!, onlyChild(trace.pid!)];
    const traceBefore = tracePids.reduce((n, p) => n + cpuSeconds(p), 0);
    withDrop.push(benchRound());
    traceCpu.push(tracePids.reduce((n, p) => n + cpuSeconds(p), 0) - traceBefore);
    trace.kill('SIGINT');
    await once(trace, 'close');
    console.log(
      `round ${i + 1} with trace --events drop: ${show(withDrop.at(-1)!)} (the trace itself: ${traceCpu.at(-1)!.toFixed(2)} s CPU)`,
    );
  }
  const a = median(without.map((r) => r.perSecond));
  const b = median(withDrop.map((r) => r.perSecond));
  const ca = median(without.map((r) => r.cpuUsPerRequest));
  const cb = median(withDrop.map((r) => r.cpuUsPerRequest));
  console.log(
    `\nmedian req/s: without ${Math.round(a).toLocaleString('en-US')}, with trace --events drop ${Math.round(b).toLocaleString('en-US')}; ratio ${(b / a).toFixed(3)}x`,
  );
  console.log(
    `median CPU per request (serve + bench): without ${ca.toFixed(1)} µs, with ${cb.toFixed(1)} µs; ratio ${(cb / ca).toFixed(3)}x`,
  );
  console.log(
    `the trace's own CPU while the load ran: median ${median(traceCpu).toFixed(2)} s per ${values.seconds} s round`,
  );
} finally {
  cleanup();
}
