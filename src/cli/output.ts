// Writing results to stdout: quiet exit when the reader goes away (| head), progress only on a TTY;
// and checking a report file can be written before a long run that would end in it.

import { accessSync, constants, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { waitWritable } from '../kernel/libc.ts';

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

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes to stdout and returns once the bytes are written, waiting for a slow reader as a blocking
 * write does. For one-shot commands with large results (`tcplens sockets`): process.stdout queues
 * in memory whatever a pipe cannot take at once, which for a listing of 100,000 connections read by
 * `| jq` or `| less` is hundreds of megabytes. Not for commands that serve or trace while they
 * write: they must not stop for their reader.
 */
export function outSync(text: string | Uint8Array): void {
  // Something another write left queued in the stream goes first.
  if (process.stdout.writableLength > 0) {
    process.stdout.write(text);
    return;
  }
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  let waitMs = 1;
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(1, bytes, at, bytes.length - at);
      waitMs = 1;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // stdout is non-blocking (Node made it so, or the shell's pipe is): wait for the reader,
      // woken by the kernel as soon as it makes room (poll), else by a timer.
      if (code === 'EAGAIN') {
        if (waitWritable(1, 1000)) continue;
        Atomics.wait(pause, 0, 0, waitMs);
        waitMs = Math.min(waitMs * 2, 50);
        continue;
      }
      // The reader went away (`| head`): quiet, as handleClosedStdout does for the stream.
      if (code === 'EPIPE') process.exit(0);
      throw err;
    }
  }
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
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw fail((err as NodeJS.ErrnoException).code ?? String(err));
  }
  try {
    accessSync(isFile ? full : dirname(full), constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? `no directory ${dirname(full)}` : (code ?? String(err)));
  }
}
