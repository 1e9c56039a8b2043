// The one child process of a process: the bpftrace under `tcplens trace`, whose CPU a benchmark reads.

import { spawnSync } from 'node:child_process';

/** The pid of `pid`'s only child; throws when it has none or several. */
export function onlyChild(pid: number): number {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .filter(Boolean);
  if (out.length !== 1) throw new Error(`expected one child of ${pid}, found ${out.length}`);
  return Number(out[0]);
}

/** The pids of `pid`'s children (none when it has none). */
export function childrenOf(pid: number): number[] {
  return spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
}
