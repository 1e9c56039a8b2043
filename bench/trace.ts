// Benchmark: does `tcplens trace` keep up? Short connections churned in a network namespace of their own
// (10 transitions each, 20,000+ per second), traced by
//   1. bpftrace alone running tcplens's script with its output to /dev/null: the floor, the reference;
//   2. tcplens trace --json, its output read and counted here;
//   3. tcplens trace (the live table), likewise.
// For 2 and 3: transitions the kernel made (10 per connection), delivered by bpftrace (made − lost),
// processed by tcplens (its summary), lost as bpftrace reports, and the CPU of tcplens and of its bpftrace
// as a share of one core (from /proc/<pid>/stat), against bpftrace alone. Needs root and bpftrace.
// tcplens's default events (state, reset, retrans, synack) take their state changes from tracefs and
// the rest from bpftrace, merged in time order: 2 and 3 measure that merged path, 1 bpftrace printing
// state changes too. bench/trace-tcpstates.ts measures the state changes alone against tcpstates.
//
//   node bench/trace.ts [--seconds 10] [--loops 64] [--port 7077]

import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildScript } from '../src/trace/script.ts';
import {
  checkTracepoints,
  defaultPerfPages,
  ensureTracefs,
  hasKernelBtf,
  recursionMisses,
  tracepointHasField,
} from '../src/trace/bpftrace.ts';
import { tracepointsFor } from '../src/trace/script.ts';
import { startChurnNamespace } from './lib/churn-namespace.ts';
import { cpuSeconds } from './lib/cpu-ticks.ts';
import { machineLine } from './lib/machine-line.ts';
import { onlyChild } from './lib/only-child.ts';
import { countLines, untilQuiet } from './lib/output-lines.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    loops: { type: 'string', default: '64' },
    port: { type: 'string', default: '7077' },
  },
});
const seconds = Number(values.seconds);
const loops = Number(values.loops);
const port = Number(values.port);
const TRANSITIONS_PER_CONNECTION = 10;
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
const events = ['state', 'reset', 'retrans', 'synack'] as const;

if (process.getuid?.() !== 0) {
  console.error('bench/trace.ts needs root (bpftrace, a network namespace)');
  process.exit(2);
}

const churn = await startChurnNamespace('tcplens-bench-trace', port);
const ask = churn.ask;
const note = (text: string) => process.stderr.write(`… ${text}\n`);

try {
  console.log(
    `trace benchmark: ${loops} client loops of connect/close on 127.0.0.1:${port} in namespace ${churn.ns.name}, ${seconds} s per run`,
  );
  console.log(`${machineLine()}\n`);

  // ---- 1. bpftrace alone, tcplens's script: output to /dev/null (its CPU), then to a pipe read here (its losses) ----
  const root = ensureTracefs();
  const reasons = checkTracepoints(root, tracepointsFor(events));
  // The same program as the CLI's.
  const script = buildScript({
    events,
    filter: { ports: [port] },
    resetReason: reasons.size > 0,
    retransmitErr: events.includes('retrans') && tracepointHasField(root, 'tcp:tcp_retransmit_skb', 'err'),
    sockState: hasKernelBtf(),
  });
  const bpftraceAlone = async (toNull: boolean) => {
    // As tcplens runs it: text output, fully buffered.
    const bt = spawn('bpftrace', ['-B', 'full', '-e', script], {
      env: {
        ...process.env,
        __BPFTRACE_NOTIFY_PROBES_ATTACHED: '1',
        BPFTRACE_PERF_RB_PAGES: String(defaultPerfPages()),
        BPFTRACE_MAP_KEYS_MAX: '65536',
      },
      stdio: ['ignore', toNull ? openSync('/dev/null', 'w') : 'pipe', 'pipe'],
    });
    churn.track(bt);
    let lines = 0;
    let lost = 0;
    if (!toNull) {
      createInterface({ input: bt.stdout! }).on('line', (l) => {
        if (/^[SRrTYDL] /.test(l)) lines++;
        const m = /^Lost (\d+) events$/.exec(l);
        if (m) lost += Number(m[1]);
      });
    }
    await new Promise<void>((resolve, reject) => {
      let err = '';
      bt.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('__BPFTRACE_NOTIFY_PROBES_ATTACHED')) resolve();
      });
      bt.once('exit', () => reject(new Error(`bpftrace exited: ${err}`)));
    });
    const before = cpuSeconds(bt.pid!);
    const run = JSON.parse(await ask(`go ${seconds} ${loops}`)) as {
      connections: number;
      stuck: number;
      seconds: number;
    };
    await new Promise((r) => setTimeout(r, 500));
    const cpu = (cpuSeconds(bt.pid!) - before) / run.seconds;
    const missed = recursionMisses(bt.pid!);
    bt.kill('SIGINT');
    const killer = setTimeout(() => bt.kill('SIGKILL'), 10_000);
    await new Promise((r) => bt.once('close', r));
    clearTimeout(killer);
    return { ...run, cpu, missed, lines, lost };
  };
  note('bpftrace alone, output to /dev/null');
  const ref = await bpftraceAlone(true);
  note('bpftrace alone, output to a pipe');
  const refPipe = await bpftraceAlone(false);
  const refCpu = ref.cpu;
  const refRate = (ref.connections * TRANSITIONS_PER_CONNECTION) / ref.seconds;

  // ---- 2 and 3. tcplens trace -------------------------------------------------------------------
  interface Run {
    mode: string;
    made: number;
    seconds: number;
    processed: number;
    lost: number;
    missed: number;
    stuck: number;
    nodeCpu: number;
    bpftraceCpu: number;
  }
  const runTcplens = async (json: boolean): Promise<Run> => {
    const cli = spawn(process.execPath, [MAIN, 'trace', '--port', String(port), ...(json ? ['--json'] : [])], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    churn.track(cli);
    let stderr = '';
    cli.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const out = countLines(cli.stdout!);
    const exited = new Promise<number | null>((r) => cli.once('exit', (code) => r(code)));
    // Ready when a connection made now shows up (table mode: the header comes first, so two lines).
    const readyLines = json ? 1 : 2;
    const deadline = Date.now() + 120_000;
    while (out.lines < readyLines) {
      if (Date.now() > deadline || cli.exitCode !== null) throw new Error(`tcplens trace did not start: ${stderr}`);
      await ask('ping');
      await new Promise((r) => setTimeout(r, 300));
    }
    await new Promise((r) => setTimeout(r, 300));
    const bpftrace = onlyChild(cli.pid!);
    const before = { node: cpuSeconds(cli.pid!), bt: cpuSeconds(bpftrace), lines: out.lines };
    const run = JSON.parse(await ask(`go ${seconds} ${loops}`)) as {
      connections: number;
      stuck: number;
      seconds: number;
    };
    // Let the last closes happen and their events through (the server side lags on a loaded machine):
    // until no line has come for a second.
    await untilQuiet(out, deadline + 60_000);
    const after = { node: cpuSeconds(cli.pid!), bt: cpuSeconds(bpftrace) };
    cli.kill('SIGINT');
    const code = await exited;
    if (code !== 0) throw new Error(`tcplens trace exited with ${code}: ${stderr}`);
    let processed: number;
    let lost: number;
    let missed: number;
    if (json) {
      const summary = JSON.parse(out.tail.trimEnd().split('\n').at(-1)!) as {
        events: { state: number };
        lostEvents: number;
        missedEvents: number;
      };
      processed = summary.events.state;
      lost = summary.lostEvents;
      missed = summary.missedEvents;
    } else {
      const num = (re: RegExp) => Number((re.exec(out.tail)?.[1] ?? '0').replace(/,/g, ''));
      processed = num(/([\d,]+) state changes/);
      lost = num(/bpftrace lost ([\d,]+) events/);
      missed = num(/the kernel skipped ([\d,]+) events/);
    }
    // The pings before the run: 10 transitions each, seen before `before.lines` was taken.
    const pings = Math.round((before.lines - readyLines + 1) / TRANSITIONS_PER_CONNECTION);
    processed -= pings * TRANSITIONS_PER_CONNECTION;
    return {
      mode: json ? 'tcplens trace --json' : 'tcplens trace (table)',
      made: run.connections * TRANSITIONS_PER_CONNECTION,
      seconds: run.seconds,
      processed,
      lost,
      missed,
      stuck: run.stuck,
      nodeCpu: (after.node - before.node) / run.seconds,
      bpftraceCpu: (after.bt - before.bt) / run.seconds,
    };
  };
  note('tcplens trace --json');
  const json = await runTcplens(true);
  note('tcplens trace (table)');
  const runs = [json, await runTcplens(false)];
  await ask('quit').catch(() => {});

  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en-US');
  console.log(
    `bpftrace alone, output to /dev/null: ${rate(ref.connections * TRANSITIONS_PER_CONNECTION, ref.seconds)} transitions/s made, ` +
      `bpftrace CPU ${pct(ref.cpu)} of a core, ${ref.missed.toLocaleString('en-US')} skipped by the kernel`,
  );
  console.log(
    `bpftrace alone, output read and counted here: ${rate(refPipe.connections * TRANSITIONS_PER_CONNECTION, refPipe.seconds)} transitions/s made, ` +
      `${refPipe.lost.toLocaleString('en-US')} lost (perf buffer), ${refPipe.missed.toLocaleString('en-US')} skipped by the kernel, bpftrace CPU ${pct(refPipe.cpu)}`,
  );
  for (const r of runs) {
    const delivered = r.made - r.lost - r.missed;
    console.log(`\n${r.mode}:`);
    console.log(
      `  transitions made by the kernel   ${rate(r.made, r.seconds).padStart(8)} /s  (${r.made.toLocaleString('en-US')} in ${r.seconds.toFixed(1)} s)`,
    );
    if (r.stuck)
      console.log(`  (${r.stuck} connections hung for 5 s and were dropped: not counted, their events may be)`);
    console.log(
      `  delivered by bpftrace            ${rate(delivered, r.seconds).padStart(8)} /s  (made − lost − skipped)`,
    );
    console.log(
      `  processed by tcplens             ${rate(r.processed, r.seconds).padStart(8)} /s  (${r.processed.toLocaleString('en-US')}; its summary)`,
    );
    console.log(
      `  lost events reported by bpftrace ${r.lost.toLocaleString('en-US').padStart(8)}  (its perf buffer overflowed)`,
    );
    console.log(
      `  skipped by the kernel            ${r.missed.toLocaleString('en-US').padStart(8)}  (recursion misses: a BPF program already running on that CPU)`,
    );
    console.log(`  CPU, share of one core           tcplens ${pct(r.nodeCpu)}, its bpftrace ${pct(r.bpftraceCpu)}`);
    console.log(
      `  (tcplens + its bpftrace) / bpftrace alone = ${((r.nodeCpu + r.bpftraceCpu) / refCpu).toFixed(2)}x CPU, at ${((r.made / r.seconds / refRate) * 100).toFixed(0)}% of the reference's rate`,
    );
  }
} finally {
  churn.close();
}
