// Two sources of events (state changes from tracefs, the rest from bpftrace) into one sink, in the
// order the kernel made them. Each source delivers its own events in order but late, by a lag of its
// own, and says up to when it has delivered everything (its watermark): merged events wait until
// every source has passed them.

import type { TraceEvent, TraceHandle, TraceSink } from './event.ts';

/** How often the sources' watermarks are read and what they passed is let out. */
const RELEASE_EVERY_MS = 20;

export interface MergedSink {
  /** What each source writes to. */
  readonly sink: TraceSink;
  /** Starts letting events out as far as every one of `sources` has delivered. */
  follow(sources: readonly Pick<TraceHandle, 'watermarkMs'>[]): void;
  /** Delivers everything still held (after the sources have stopped). */
  drain(): void;
}

export function mergeSources(out: TraceSink): MergedSink {
  let held: TraceEvent[] = [];
  let sorted = true;
  let lastOutMs = -Infinity;
  let late = 0;
  let timer: NodeJS.Timeout | undefined;
  const release = (upToMs: number) => {
    if (held.length === 0) return;
    // Stable: events of one time keep the order they came in.
    if (!sorted) held.sort((a, b) => a.timeMs - b.timeMs);
    sorted = true;
    let n = 0;
    while (n < held.length && held[n]!.timeMs <= upToMs) n++;
    if (n === 0) return;
    const outNow = n === held.length ? held : held.slice(0, n);
    held = n === held.length ? [] : held.slice(n);
    for (const e of outNow) out.event(e);
    lastOutMs = Math.max(lastOutMs, outNow.at(-1)!.timeMs);
    out.flush?.();
  };
  return {
    sink: {
      event(e) {
        if (e.timeMs < lastOutMs) late++;
        if (held.length > 0 && e.timeMs < held[held.length - 1]!.timeMs) sorted = false;
        held.push(e);
      },
      lost: (n) => out.lost?.(n),
      notice: (text) => out.notice?.(text),
      listening: (ports) => out.listening?.(ports),
    },
    follow(sources) {
      timer = setInterval(() => {
        let upTo = Infinity;
        for (const s of sources) upTo = Math.min(upTo, s.watermarkMs?.() ?? -Infinity);
        release(upTo);
      }, RELEASE_EVERY_MS);
    },
    drain() {
      clearInterval(timer);
      timer = undefined;
      release(Infinity);
      if (late > 0)
        out.notice?.(
          `${late} events came from their source later than others already printed, and are printed out of order`,
        );
    },
  };
}
