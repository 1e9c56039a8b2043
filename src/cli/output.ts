// Writing results to stdout: quiet exit when the reader goes away (| head), progress only on a TTY;
// and checking a report file can be written before a long run that would end in it.

import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.ts';

let installed = false;

/** Exit quietly when stdout's reader closes early, as `tcplens sockets | head` does. */
export function handleClosedStdout(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export function out(text: string | Uint8Array): void {
  process.stdout.write(text);
}

/** A one-line progress indicator on stderr, shown only when stderr is a terminal. */
export function progress(text: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r\x1b[2K${text}`);
}

export function clearProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}

/**
 * Throws a UsageError unless `path` (given with `flag`, e.g. --html) can be written, without creating
 * it: checked before a run, so minutes of measurements are not lost to a typo at the end.
 */
export function assertWritableFile(path: string, flag: string): void {
  if (!path.trim()) throw new UsageError(`${flag} needs a file name`);
  const full = resolve(path);
  const fail = (why: string) => new UsageError(`${flag}: cannot write ${path} (${why})`);
  let isFile = false;
  try {
    const st = statSync(full);
    if (st.isDirectory()) throw fail('it is a directory');
    isFile = true;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fail((err as NodeJS.ErrnoException).code ?? String(err));
  }
  try {
    accessSync(isFile ? full : dirname(full), constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? `no directory ${dirname(full)}` : (code ?? String(err)));
  }
}
