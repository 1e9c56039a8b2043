// Benchmark: what trace's start-up pays to find listeners in a namespace full of connections. A
// namespace of its own gets N ESTABLISHED pairs and M TIME_WAIT (bench/lib/socket-farms.ts) and a
// few listeners; rounds alternate between reading its /proc/<pid>/net/tcp and tcp6 as far as the
// listeners go (what trace does) and reading the whole tables (what it did), and print the medians
// and their ratio, with the listeners each found (they must agree). Needs root.
//
//   node bench/trace-listeners.ts [--established 20000] [--time-wait 5000] [--rounds 9]

import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { readProcNetTcp } from '../src/kernel/proc-net-tcp.ts';
import { stateCode } from '../src/model/tcp-state.ts';
import { namespacesOfProcesses } from '../src/trace/bpftrace.ts';
import { readListenRows } from '../src/trace/listen-rows.ts';
import { machineLine } from './lib/machine-line.ts';
import { startFarms } from './lib/socket-farms.ts';

const { values } = parseArgs({
  options: {
    established: { type: 'string', default: '20000' },
    'time-wait': { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '9' },
  },
});
if (process.getuid?.() !== 0) {
  console.error('bench/trace-listeners.ts needs root (a network namespace)');
  process.exit(2);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const ns = createNetns('tcplens-bench-listeners');
const farms = await startFarms(ns, {
  established: Number(values.established),
  timeWait: Number(values['time-wait']),
}).catch((err: unknown) => {
  ns.close();
  throw err;
});
try {
  const inode = statSync(`/run/netns/${ns.name}`).ino;
  const pid = namespacesOfProcesses().get(inode);
  if (pid === undefined) throw new Error(`no process found in ${ns.name}`);
  console.log(
    `listeners in ${ns.name} (${values.established} ESTABLISHED pairs, ${values['time-wait']} TIME_WAIT), through /proc/${pid}/net/tcp and tcp6`,
  );
  console.log(`${machineLine()}\n`);
  const listen = stateCode('LISTEN');
  const early = (): number[] =>
    ['tcp', 'tcp6'].flatMap((t) => readListenRows(`/proc/${pid}/net/${t}`).map((r) => r.port));
  const whole = (): number[] => {
    const ports: number[] = [];
    let rows = 0;
    for (const family of ['ipv4', 'ipv6'] as const) {
      readProcNetTcp(
        family,
        (r) => {
          rows++;
          if (r.state === listen) ports.push(r.localPort);
        },
        `/proc/${pid}/net/${family === 'ipv4' ? 'tcp' : 'tcp6'}`,
      );
    }
    wholeRows = rows;
    return ports;
  };
  let wholeRows = 0;
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    let t = performance.now();
    const pe = early();
    a.push(performance.now() - t);
    t = performance.now();
    const pw = whole();
    b.push(performance.now() - t);
    const same = pe.length === pw.length && pe.every((p, j) => p === pw[j]);
    console.log(
      `round ${i + 1}: listeners only ${a.at(-1)!.toFixed(1)} ms (${pe.length} found), whole tables ${b.at(-1)!.toFixed(1)} ms (${wholeRows} rows, ${pw.length} listeners)${same ? '' : ' DIFFERENT LISTENERS'}`,
    );
  }
  console.log(
    `\nmedian: listeners only ${median(a).toFixed(1)} ms, whole tables ${median(b).toFixed(1)} ms; ratio ${(median(a) / median(b)).toFixed(3)}x`,
  );
} finally {
  await farms.close();
  ns.close();
}
