// The line a benchmark prints before its figures: how many cores, and how loaded the machine was.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** "machine: N cores, load 1m 5m 15m (shared: figures are noisy)". */
export function machineLine(): string {
  return `machine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (shared: figures are noisy)`;
}
