// /proc/<pid>/limits: a pure parser of the resource-limit table and a thin reader of RLIMIT_NOFILE.

import { readFileSync } from 'node:fs';
import { KernelReadError, describeFsError } from '../errors.ts';
import { procRootDir } from './proc-root.ts';

/** A limit value: a count, or no limit at all. */
export type LimitValue = number | 'unlimited';

export interface ResourceLimit {
  soft: LimitValue;
  hard: LimitValue;
  /** "files", "bytes", … ; empty for unitless limits such as "Max nice priority". */
  units: string;
}

/** Soft and hard RLIMIT_NOFILE of one process. */
export interface OpenFilesLimit {
  /** The process asked about: a pid, or 'self' for the reading process. */
  pid: number | 'self';
  soft: LimitValue;
  hard: LimitValue;
}

function parseLimitValue(text: string, line: string): LimitValue {
  if (text === 'unlimited') return 'unlimited';
  if (!/^\d+$/.test(text)) throw new KernelReadError(`limits: '${text}' is not a limit in '${line.trim()}'`);
  return Number(text);
}

/**
 * Parse the table into limits by name ("Max open files" → {soft, hard, units}). Pure.
 * Columns are padded with spaces and names contain single spaces, so a run of two or more spaces
 * is the column separator.
 */
export function parseLimits(text: string): Map<string, ResourceLimit> {
  const limits = new Map<string, ResourceLimit>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('Limit ')) continue;
    const cells = line.trim().split(/ {2,}|\t+/);
    const [name, soft, hard, units] = cells;
    if (name === undefined || soft === undefined || hard === undefined) {
      throw new KernelReadError(`limits: cannot make sense of '${line.trim()}'`);
    }
    limits.set(name, { soft: parseLimitValue(soft, line), hard: parseLimitValue(hard, line), units: units ?? '' });
  }
  return limits;
}

/** The "Max open files" row of a limits table. Pure. */
export function parseOpenFilesLimit(text: string, pid: number | 'self' = 'self'): OpenFilesLimit {
  const row = parseLimits(text).get('Max open files');
  if (!row) throw new KernelReadError('limits: no "Max open files" line');
  return { pid, soft: row.soft, hard: row.hard };
}

export function limitsPath(pid: number | 'self', procRoot = procRootDir()): string {
  return `${procRoot}/${pid}/limits`;
}

/**
 * RLIMIT_NOFILE of a process. Note for 'self': Node raises its own soft limit to the hard limit at
 * start-up, so tcplens itself always shows soft = hard, whatever the shell's `ulimit -Sn` says.
 */
export function readOpenFilesLimit(pid: number | 'self' = 'self', procRoot = procRootDir()): OpenFilesLimit {
  const path = limitsPath(pid, procRoot);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (pid !== 'self' && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KernelReadError(`no process with pid ${pid} (${path} does not exist; it may have exited)`);
    }
    throw describeFsError(err, path);
  }
  return parseOpenFilesLimit(text, pid);
}
