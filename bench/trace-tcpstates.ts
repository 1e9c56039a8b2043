// Benchmark: the CPU of `tcplens trace --json --events state` against libbpf-tools' tcpstates, the
// tool it replaces, on the same churn of short connections in a network namespace of its own (10 state
// changes each, 20,000+ per second). tcplens reads state changes from a tracefs instance (no bpftrace);
// --with-bpftrace adds rounds of the same trace through bpftrace (TCPLENS_TRACEFS=0), as before tracefs.
// Rounds of each tool, and rounds with no tracer at all, are interleaved, in a different order each
// round; each tool's output is read and counted here, as a consumer would. Neither filters (tcpstates
// cannot filter on either end's port at once), so both see the whole host; the churn is most of it.
// Both tools' kernel work (a BPF program and its perf buffer, or the tracing ring buffer) runs in the
// context of the churn, which is charged for it: the churn's CPU beyond its untraced rounds is that
// share. Prints per round and the medians: CPU per transition the churn made, the tool's own processes
// and with the kernel's share, their ratios to tcpstates; per event put out, split between bpftrace and
// Node; and where missing events went.
// --profile DIR writes a V8 CPU profile of each tcplens round's Node process there.
// Needs root and libbpf-tools (apt-get install -y libbpf-tools); bpftrace for --with-bpftrace.
//
//   node bench/trace-tcpstates.ts [--seconds 10] [--rounds 3] [--loops 64] [--rate CONN/S] [--port 7078] [--events state] [--with-bpftrace] [--profile DIR]

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startChurnNamespace } from './lib/churn-namespace.ts';
import { cpuSeconds, cpuSplitSeconds } from './lib/cpu-ticks.ts';
import { machineLine } from './lib/machine-line.ts';
import { childrenOf } from './lib/only-child.ts';
import { countLines, untilQuiet } from './lib/output-lines.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    loops: { type: 'string', default: '64' },
    // Connections per second for the whole churn (10 transitions each); 0: as fast as they go. A fixed
    // rate gives both tools the same workload; unbounded, each churns as fast as its own cost allows.
    rate: { type: 'string', default: '0' },
    port: { type: 'string', default: '7078' },
    events: { type: 'string', default: 'state' },
    // A directory for V8 CPU profiles of the tcplens process (node --cpu-prof), one per round.
    profile: { type: 'string' },
    // Also rounds of tcplens with its state changes through bpftrace (TCPLENS_TRACEFS=0), for comparison.
    'with-bpftrace': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const loops = Number(values.loops);
const rate = Number(values.rate);
const port = Number(values.port);
const TRANSITIONS_PER_CONNECTION = 10;
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
const TCPSTATES = '/usr/sbin/tcpstates';

if (process.getuid?.() !== 0) {
  console.error('bench/trace-tcpstates.ts needs root (tracing, a network namespace)');
  process.exit(2);
}
if (!existsSync(TCPSTATES)) {
  console.error(`bench/trace-tcpstates.ts needs ${TCPSTATES}: apt-get install -y libbpf-tools`);
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const churn = await startChurnNamespace('tcplens-bench-tcpstates', port);
const ask = churn.ask;
const note = (text: string) => process.stderr.write(`… ${text}\n`);

type Tool = 'none' | 'tcpstates' | 'tcplens' | 'tcplens-bpftrace';

interface Round {
  tool: Tool;
  made: number;
  seconds: number;
  /** Lines of output that are events. */
  events: number;
  lost: number;
  /** tcplens: of `lost`, the events the kernel skipped (a BPF program already running on that CPU) rather than a full buffer's. */
  missed?: number;
  /** The tool's own processes. */
  cpu: number;
  /** Of `cpu`, the part spent in the kernel on the tool's behalf (its system calls: reading buffers, writing output). */
  systemCpu: number;
  /** tcplens: the CPU of its bpftrace, of the total (0 when it ran none). */
  bpftraceCpu?: number;
  /** The churn's processes: with a tracer, this includes the kernel's work of recording each event, done in the churn's context. */
  churnCpu: number;
  /** The backend tcplens reported in its summary. */
  backend?: string;
}

const tools: Tool[] = [
  'none',
  'tcpstates',
  'tcplens',
  ...(values['with-bpftrace'] ? (['tcplens-bpftrace'] as const) : []),
];

try {
  console.log(
    `trace vs tcpstates: ${loops} client loops of connect/close on 127.0.0.1:${port} in namespace ${churn.ns.name}, ${seconds} s per round, ${rounds} rounds each of ${tools.join(', ')}, interleaved`,
  );
  console.log(`${machineLine()}\n`);

  /** Run one tool over one round of churn: its CPU (all its processes), the churn's CPU and the tool's event lines. */
  const round = async (tool: Tool): Promise<Round> => {
    const churnCpu = () => churn.pids.reduce((s, p) => s + cpuSeconds(p), 0);
    if (tool === 'none') {
      const before = churnCpu();
      const run = JSON.parse(await ask(`go ${seconds} ${loops} ${rate}`)) as { connections: number; seconds: number };
      return {
        tool,
        made: run.connections * TRANSITIONS_PER_CONNECTION,
        seconds: run.seconds,
        events: 0,
        lost: 0,
        cpu: 0,
        systemCpu: 0,
        churnCpu: churnCpu() - before,
      };
    }
    const lens = tool !== 'tcpstates';
    const argv = !lens
      ? [TCPSTATES]
      : [
          process.execPath,
          ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : []),
          MAIN,
          'trace',
          '--json',
          '--events',
          values.events!,
        ];
    const child = spawn(argv[0]!, argv.slice(1), {
      // tcplens-bpftrace: the same trace with its state changes through bpftrace, as before tracefs.
      env: { ...process.env, NO_COLOR: '1', ...(tool === 'tcplens-bpftrace' ? { TCPLENS_TRACEFS: '0' } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    churn.track(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const out = countLines(child.stdout!);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Ready: tcpstates once its probes are loaded (it prints its header into a buffer we cannot see:
    // wait for the BPF programs to appear), tcplens once it prints its start line.
    const deadline = Date.now() + 120_000;
    const ready = () =>
      lens
        ? out.lines >= 1
        : spawnSync('sh', ['-c', `ls -l /proc/${child.pid}/fd 2>/dev/null | grep -c bpf-prog`], {
            encoding: 'utf8',
          }).stdout.trim() !== '0';
    while (!ready()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${tool} did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000));
    // tcplens's bpftrace, when it runs one (not for state changes alone when tracefs serves them).
    const helper = lens ? childrenOf(child.pid!) : [];
    const pids = [child.pid!, ...helper];
    const cpu = () => pids.reduce((s, p) => s + cpuSeconds(p), 0);
    const before = cpu();
    const system = () => pids.reduce((s, p) => s + cpuSplitSeconds(p).system, 0);
    const systemBefore = system();
    const btBefore = helper.length ? cpuSeconds(helper[0]!) : 0;
    const churnBefore = churnCpu();
    const run = JSON.parse(await ask(`go ${seconds} ${loops} ${rate}`)) as {
      connections: number;
      stuck: number;
      seconds: number;
    };
    const churnUsed = churnCpu() - churnBefore;
    // Until the output has been quiet for a second: the last events read.
    await untilQuiet(out, deadline + 60_000);
    const used = cpu() - before;
    const systemUsed = system() - systemBefore;
    const bpftraceCpu = helper.length ? cpuSeconds(helper[0]!) - btBefore : lens ? 0 : undefined;
    child.kill('SIGINT');
    await exited;
    let events: number;
    let lost: number;
    let missed: number | undefined;
    let backend: string | undefined;
    if (lens) {
      const summary = JSON.parse(out.tail.trimEnd().split('\n').at(-1)!) as {
        backend: string;
        events: Record<string, number>;
        lostEvents: number;
        missedEvents: number;
      };
      events = Object.values(summary.events).reduce((a, b) => a + b, 0);
      lost = summary.lostEvents + summary.missedEvents;
      missed = summary.missedEvents;
      backend = summary.backend;
    } else {
      // Header line once; every other line an event. tcpstates reports losses on stderr.
      events = out.lines - 1;
      lost = [...stderr.matchAll(/lost (\d+) events/gi)].reduce((n, m) => n + Number(m[1]), 0);
    }
    return {
      tool,
      made: run.connections * TRANSITIONS_PER_CONNECTION,
      seconds: run.seconds,
      events,
      lost,
      ...(missed === undefined ? {} : { missed }),
      cpu: used,
      systemCpu: systemUsed,
      ...(bpftraceCpu === undefined ? {} : { bpftraceCpu }),
      churnCpu: churnUsed,
      ...(backend ? { backend } : {}),
    };
  };

  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    // Each round in another order, so that no tool always follows the same one.
    const order = tools.map((_, k) => tools[(k + i) % tools.length]!);
    for (const tool of order) {
      note(`round ${i + 1}: ${tool}`);
      const r = await round(tool);
      results.push(r);
      console.log(
        `${tool.padEnd(16)} round ${i + 1}: ${Math.round(r.made / r.seconds)
          .toLocaleString('en-US')
          .padStart(7)} transitions/s made, churn CPU ${r.churnCpu.toFixed(2)} s` +
          (tool === 'none'
            ? ''
            : `, ${r.events.toLocaleString('en-US')} events out (${r.made.toLocaleString('en-US')} made), ${r.lost} lost${r.missed ? ` (${r.missed} skipped by the kernel)` : ''}, CPU ${r.cpu.toFixed(2)} s (system ${r.systemCpu.toFixed(2)})` +
              (r.bpftraceCpu === undefined ? '' : ` (its bpftrace ${r.bpftraceCpu.toFixed(2)} s)`) +
              (r.backend ? ` [${r.backend}]` : '')),
      );
    }
  }
  await ask('quit').catch(() => {});
  const of = (tool: Tool) => results.filter((r) => r.tool === tool);
  const traced = tools.filter((t) => t !== 'none');
  // CPU per 100,000 transitions made: rounds may churn at different rates.
  const per = (x: number, r: Round) => (x / r.made) * 100_000;
  const med = (tool: Tool, f: (r: Round) => number) => median(of(tool).map(f));
  const quiet = med('none', (r) => per(r.churnCpu, r));
  console.log(`\nmedian CPU per 100,000 transitions made (churn without a tracer: ${quiet.toFixed(3)} s):`);
  const total = new Map<Tool, number>();
  for (const tool of traced) {
    const own = med(tool, (r) => per(r.cpu, r));
    const system = med(tool, (r) => per(r.systemCpu, r));
    // The kernel's work for the tracer runs in the churn's context (recording each event): what the
    // churn spent beyond its untraced rounds.
    const kernel = med(tool, (r) => per(r.churnCpu, r)) - quiet;
    total.set(tool, own + kernel);
    console.log(
      `  ${tool.padEnd(16)} its processes ${own.toFixed(3)} s (system ${system.toFixed(3)} s), in the churn's context ${kernel >= 0 ? '+' : ''}${kernel.toFixed(3)} s, together ${(own + kernel).toFixed(3)} s`,
    );
  }
  const a = med('tcpstates', (r) => per(r.cpu, r));
  for (const tool of traced.filter((t) => t !== 'tcpstates')) {
    const b = med(tool, (r) => per(r.cpu, r));
    console.log(
      `ratio ${tool} / tcpstates: ${(b / a).toFixed(2)}x its processes; ${(total.get(tool)! / total.get('tcpstates')!).toFixed(2)}x with the kernel's share`,
    );
  }
  // Both see the whole host: other processes' connections add events the churn did not make, more in
  // rounds where the churn runs slower. Per event each tool put out, that share does not matter.
  const perOut = (r: Round) => (r.cpu / Math.max(1, r.events)) * 100_000;
  const ao = median(of('tcpstates').map(perOut));
  for (const tool of traced.filter((t) => t !== 'tcpstates')) {
    const bo = median(of(tool).map(perOut));
    // The split of tcplens's CPU between its bpftrace (if it runs one) and its Node process, per event.
    const bt = median(of(tool).map((r) => ((r.bpftraceCpu ?? 0) / Math.max(1, r.events)) * 100_000));
    console.log(
      `median CPU per 100,000 events put out: tcpstates ${ao.toFixed(3)} s, ${tool} ${bo.toFixed(3)} s (${(bo / ao).toFixed(2)}x): ` +
        `bpftrace ${bt.toFixed(3)} s (${(bt / ao).toFixed(2)}x tcpstates), Node ${(bo - bt).toFixed(3)} s (${((bo - bt) / ao).toFixed(2)}x tcpstates)`,
    );
  }
  const lost = results.filter((r) => r.tool !== 'none' && (r.lost > 0 || r.events < r.made));
  console.log(
    lost.length
      ? `rounds with events lost or missing: ${lost.map((r) => `${r.tool} (${r.lost} lost, ${r.events}/${r.made})`).join(', ')}`
      : 'no round lost an event (events out ≥ transitions made, none reported lost)',
  );
  // Where the missing ones went, all rounds together: the kernel skips a probe while another BPF
  // program runs on that CPU (tcplens counts these; tcpstates does not look), and a reader that falls
  // behind loses what no longer fits its buffer (all report these).
  for (const tool of traced) {
    const rs = of(tool);
    const sum = (f: (r: Round) => number) => rs.reduce((n, r) => n + f(r), 0);
    const made = sum((r) => r.made);
    const out = sum((r) => r.events);
    const skipped = sum((r) => r.missed ?? 0);
    const overflowed = sum((r) => r.lost - (r.missed ?? 0));
    console.log(
      `${tool}: ${out.toLocaleString('en-US')} events out of ${made.toLocaleString('en-US')} transitions made; ` +
        `lost from a full buffer ${overflowed.toLocaleString('en-US')}, ` +
        (tool !== 'tcpstates' ? `skipped by the kernel ${skipped.toLocaleString('en-US')}, ` : '') +
        `unaccounted ${Math.max(0, made - out - overflowed - skipped).toLocaleString('en-US')}`,
    );
  }
} finally {
  churn.close();
}
