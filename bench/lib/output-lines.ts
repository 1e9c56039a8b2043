// A tracer's stdout as a benchmark reads it: lines counted as they come, without splitting them into
// strings, and the last 8 KiB kept (where a closing summary is).

import type { Readable } from 'node:stream';

export interface OutputLines {
  /** Lines so far. */
  readonly lines: number;
  /** The last 8 KiB, as latin1. */
  readonly tail: string;
}

export function countLines(stdout: Readable): OutputLines {
  const out = { lines: 0, tail: '' };
  stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) out.lines++;
    out.tail = (out.tail + chunk.toString('latin1')).slice(-8192);
  });
  return out;
}

/** Resolves once no line has come for a second, or at `untilMs` (a Date.now() time) at the latest. */
export async function untilQuiet(out: OutputLines, untilMs: number): Promise<void> {
  for (let last = -1, quiet = 0; quiet < 4 && Date.now() < untilMs; ) {
    await new Promise((r) => setTimeout(r, 250));
    quiet = out.lines === last ? quiet + 1 : 0;
    last = out.lines;
  }
}
