// Benchmark: `tcplens serve` of this tree against the same server at another git ref (main by
// default), loaded by `tcplens bench` on routes that read a URL parameter (and /, which reads none),
// runs interleaved, both servers started from source. For checking that a change to the routes
// costs nothing measurable. Throughput on a shared machine swings, so the server's own CPU time per
// request (from /proc/<pid>/stat) is reported too, and paired per round.
//
//   node bench/serve-routes.ts [--ref main] [--rounds 5] [--seconds 4] [--path /bytes/100 --path /]

import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runPinnedLoad } from './lib/pinned-load.ts';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { values } = parseArgs({
  options: {
    ref: { type: 'string', default: 'main' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '4' },
    path: { type: 'string', multiple: true, default: ['/bytes/100', '/status/200', '/'] },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const root = new URL('../', import.meta.url).pathname;

// The other ref's sources beside this tree's node_modules.
const other = mkdtempSync(join(tmpdir(), 'tcplens-serve-ref-'));
execFileSync('sh', ['-c', `git -C ${root} archive ${values.ref} src package.json | tar -x -C ${other}`]);
symlinkSync(join(root, 'node_modules'), join(other, 'node_modules'));
const mains = { [values.ref]: join(other, 'src/cli/main.ts'), tree: join(root, 'src/cli/main.ts') };
const cli = join(root, 'src/cli/main.ts');

const run = (main: string, path: string) =>
  runPinnedLoad({
    server: [process.execPath, main, 'serve', '--port', '0', '--json', '--no-debug'],
    portOf: (line) => (JSON.parse(line) as { port: number }).port,
    cli,
    path,
    seconds,
  });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  console.log(
    `tcplens serve, this tree against ${values.ref}, 64 keep-alive connections, ${seconds} s runs, ${rounds} rounds interleaved`,
  );
  for (const path of values.path) {
    const rps = { ref: [] as number[], tree: [] as number[] };
    const cpu = { ref: [] as number[], tree: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      const order: ('ref' | 'tree')[] = i % 2 ? ['tree', 'ref'] : ['ref', 'tree'];
      for (const which of order) {
        const r = await run(which === 'ref' ? mains[values.ref]! : mains.tree, path);
        rps[which].push(r.rps);
        cpu[which].push(r.cpuUsPerRequest);
      }
    }
    const paired = rps.ref.map((b, i) => rps.tree[i]! / b);
    console.log(`  ${path}`);
    console.log(
      `    ${values.ref.padEnd(6)} ${Math.round(median(rps.ref)).toLocaleString('en-US').padStart(8)} req/s  [${rps.ref.map(Math.round).join(' ')}]`,
    );
    console.log(
      `    tree   ${Math.round(median(rps.tree)).toLocaleString('en-US').padStart(8)} req/s  [${rps.tree.map(Math.round).join(' ')}]`,
    );
    console.log(
      `    tree/${values.ref} = ${(median(rps.tree) / median(rps.ref)).toFixed(3)}x (medians); paired per round ${median(paired).toFixed(3)}x [${paired.map((x) => x.toFixed(2)).join(' ')}]`,
    );
    console.log(
      `    server CPU per request: ${values.ref} ${median(cpu.ref).toFixed(1)} µs, tree ${median(cpu.tree).toFixed(1)} µs → ${values.ref}/tree = ${(median(cpu.ref) / median(cpu.tree)).toFixed(3)}x`,
    );
  }
} finally {
  rmSync(other, { recursive: true, force: true });
}
