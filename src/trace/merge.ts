// Two sources of events (state changes from tracefs, the rest from bpftrace) into one sink, in the
// order the kernel made them: each source delivers its own events in order but late, by a different
// lag, so they wait in a reorder buffer whose hold follows the larger of those lags.

import type { TraceSink } from './event.ts';
import { releaseOnTimer } from './release-timer.ts';
import { ReorderBuffer } from './reorder.ts';

export interface MergedSink {
  /** What each source writes to. */
  readonly sink: TraceSink;
  /** Delivers everything still held (after both sources have stopped). */
  drain(): void;
}

export function mergeSources(out: TraceSink, o: { minHoldMs?: number; monoToEpochMs: number }): MergedSink {
  const monoToEpochMs = o.monoToEpochMs;
  const now = () => monoToEpochMs + Number(process.hrtime.bigint()) / 1e6;
  const order = new ReorderBuffer({ minHoldMs: o.minHoldMs });
  const releases = releaseOnTimer(order, now, out);
  let arrivalMs = 0;
  return {
    sink: {
      event(e) {
        // Events of one batch share their arrival (one clock read per batch, at its first event).
        if (arrivalMs === 0) arrivalMs = now();
        order.push(e, arrivalMs);
      },
      flush() {
        arrivalMs = 0;
        releases.schedule();
      },
      lost: (n) => out.lost?.(n),
      notice: (text) => out.notice?.(text),
      listening: (ports) => out.listening?.(ports),
    },
    drain() {
      releases.drain();
      if (order.late > 0) {
        out.notice?.(
          `${order.late} events came later than the wait for reordering (at most ${Math.round(order.longestHoldMs)} ms) and are printed out of order`,
        );
      }
    },
  };
}
