// The single executable against the npm package: its size, and its start-up time next to
// `node dist/cli/main.js` (the same Node, the same code), rounds interleaved, medians and their ratio.
//
//   npm run build:sea && node bench/sea.ts [--rounds 30] [--bin build/tcplens-linux-x64]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    bin: { type: 'string', default: join(ROOT, 'build', `tcplens-linux-${process.arch}`) },
  },
});
const rounds = Number(values.rounds);
const bin = resolve(values.bin);
const main = join(ROOT, 'dist', 'cli', 'main.js');
if (!existsSync(bin) || !existsSync(main)) {
  process.stderr.write(`bench/sea: build first: npm run build:sea (missing ${existsSync(bin) ? main : bin})\n`);
  process.exit(1);
}

const cache = mkdtempSync(join(tmpdir(), 'tcplens-sea-bench-'));
const env = { ...process.env, TCPLENS_CACHE_DIR: cache };

function timeMs(argv: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

try {
  const firstRunMs = timeMs([bin, '--version']); // unpacks the tree into the empty cache
  const cases: [string, string[]][] = [
    ['--version', ['--version']],
    ['sockets --summary --json', ['sockets', '--summary', '--json']],
  ];
  const sizeMiB = statSync(bin).size / 2 ** 20;
  process.stdout.write(
    `executable ${bin}: ${sizeMiB.toFixed(1)} MiB; first run (unpacking) ${firstRunMs.toFixed(0)} ms\n`,
  );
  process.stdout.write(`node ${process.execPath} (${process.version}), ${rounds} interleaved rounds, medians:\n`);
  for (const [name, args] of cases) {
    // A warm-up of each, then alternate which goes first so neither always runs on a cooler cache.
    timeMs([bin, ...args]);
    timeMs([process.execPath, main, ...args]);
    const sea: number[] = [];
    const node: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let a: number, b: number;
      if (i % 2 === 0) {
        a = timeMs([bin, ...args]);
        b = timeMs([process.execPath, main, ...args]);
      } else {
        b = timeMs([process.execPath, main, ...args]);
        a = timeMs([bin, ...args]);
      }
      sea.push(a);
      node.push(b);
      ratios.push(a / b);
    }
    process.stdout.write(
      `  ${name.padEnd(26)} executable ${median(sea).toFixed(1)} ms   node dist/cli/main.js ${median(node).toFixed(1)} ms   ratio ${median(ratios).toFixed(2)}x (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})\n`,
    );
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
}
