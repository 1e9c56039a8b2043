// Events held in a reorder buffer, let out on a timer in batches into a sink.

import type { TraceEvent, TraceSink } from './event.ts';
import type { ReorderBuffer } from './reorder.ts';

/** The shortest time between two releases of held events. */
const RELEASE_EVERY_MS = 20;

export interface ReleaseTimer {
  /** After events were pushed: makes sure a release is due when the oldest has waited its hold. */
  schedule(): void;
  /** Stops the timer and delivers everything still held (at the end of a trace). */
  drain(): void;
}

/** `nowMs`: the clock of the events' timeMs (CLOCK_MONOTONIC as epoch ms). */
export function releaseOnTimer(order: ReorderBuffer, nowMs: () => number, sink: TraceSink): ReleaseTimer {
  let timer: NodeJS.Timeout | undefined;
  const emit = (events: readonly TraceEvent[]) => {
    for (const e of events) sink.event(e);
    if (events.length) sink.flush?.();
  };
  const schedule = () => {
    const due = order.nextDueMs();
    if (due === undefined || timer) return;
    // Events leave in batches at most every RELEASE_EVERY_MS (a quarter of a long hold): each release
    // is a sort and one write of its output, and millisecond timing would add nothing a reader sees.
    const wait = Math.max(RELEASE_EVERY_MS, Math.ceil(due - nowMs()), Math.floor(order.holdMs / 4));
    timer = setTimeout(() => {
      timer = undefined;
      emit(order.release(nowMs()));
      schedule();
    }, wait);
  };
  return {
    schedule,
    drain() {
      clearTimeout(timer);
      timer = undefined;
      emit(order.drain());
    },
  };
}
