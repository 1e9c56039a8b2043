// Where the CPU time of a whole `tcplens sockets` process goes: Node's own start-up, loading our
// modules, loading koffi, then the dump and the output; the median of each phase over fresh
// processes. Run it where the sockets are (e.g. inside bench/sockets.ts's namespace with
// `ip netns exec NAME`); `npm run build` first.
//
//   node bench/sockets-phases.ts [--rounds 9] [--commander] -- --summary

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string', default: '9' }, commander: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const child = new URL('./lib/sockets-phases-child.mjs', import.meta.url).pathname;
const runs: [string, number][][] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  const out = spawnSync(process.execPath, [child, ...positionals], {
    encoding: 'utf8',
    // The output itself is thrown away, as `> /dev/null` does in bench/sockets.ts.
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...(values.commander ? { SOCKETS_PHASES_COMMANDER: '1' } : {}) },
  });
  if (out.status !== 0) throw new Error(out.stderr);
  runs.push(JSON.parse(out.stderr.trim().split('\n').pop()!));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `tcplens sockets ${positionals.join(' ')}${values.commander ? ' (through commander)' : ''}: CPU ms per phase, median of ${runs.length} processes; load average ${loadavg()[0]!.toFixed(1)}`,
);
const first = runs[0]!;
for (let k = 0; k < first.length; k++) {
  const ms = median(runs.map((m) => (k === 0 ? m[0]![1] : m[k]![1] - m[k - 1]![1])));
  console.log(`  ${first[k]![0].padEnd(44)} ${ms.toFixed(1).padStart(7)}`);
}
console.log(
  `  ${'whole process (to exit)'.padEnd(44)} ${median(runs.map((m) => m.at(-1)![1]))
    .toFixed(1)
    .padStart(7)}`,
);
