// Putting bpftrace's events back in the order the kernel made them. Pure: the caller brings the clock.
//
// The kernel writes each CPU's events into that CPU's perf buffer, in order, and bpftrace reads the
// buffers one after the other: an event from one CPU can come out after a later one from another.
// On loopback that shows up as a server's CLOSE_WAIT → LAST_ACK printed before the ESTABLISHED →
// CLOSE_WAIT that caused it (seen in CI). Events therefore wait a short hold after they arrive, and
// leave sorted by their kernel time once nothing that arrived later can be older than they are.

import type { TraceEvent } from './event.ts';

/** How long an event waits after it arrives for older events from other CPUs; a person never notices it. */
export const DEFAULT_HOLD_MS = 50;

interface Held {
  event: TraceEvent;
  arrivalMs: number;
}

export class ReorderBuffer {
  private held: Held[] = [];
  private sorted = true;
  private lastOutMs = -Infinity;
  /** Events that arrived after a newer one had already left: late by more than the hold. */
  late = 0;

  readonly holdMs: number;

  constructor(holdMs = DEFAULT_HOLD_MS) {
    this.holdMs = holdMs;
  }

  get size(): number {
    return this.held.length;
  }

  push(event: TraceEvent, arrivalMs: number): void {
    const last = this.held.at(-1);
    if (last && event.timeMs < last.event.timeMs) this.sorted = false;
    if (event.timeMs < this.lastOutMs) this.late++;
    this.held.push({ event, arrivalMs });
  }

  /**
   * The events that may leave at nowMs, oldest first: every event no newer than the newest of those
   * that have waited the whole hold (anything older still to come would have to be later than that).
   */
  release(nowMs: number): TraceEvent[] {
    const due = nowMs - this.holdMs;
    let cutoff = -Infinity;
    for (const h of this.held) if (h.arrivalMs <= due && h.event.timeMs > cutoff) cutoff = h.event.timeMs;
    if (cutoff === -Infinity) return [];
    this.sort();
    let n = 0;
    while (n < this.held.length && this.held[n]!.event.timeMs <= cutoff) n++;
    return this.take(n);
  }

  /** Everything still held, oldest first (at the end of a trace). */
  drain(): TraceEvent[] {
    this.sort();
    return this.take(this.held.length);
  }

  /** When the next event will have waited its hold, or undefined when none is held. */
  nextDueMs(): number | undefined {
    let first: number | undefined;
    for (const h of this.held) if (first === undefined || h.arrivalMs < first) first = h.arrivalMs;
    return first === undefined ? undefined : first + this.holdMs;
  }

  private sort(): void {
    // Stable: events with the same kernel time keep the order they came in.
    if (!this.sorted) this.held.sort((a, b) => a.event.timeMs - b.event.timeMs);
    this.sorted = true;
  }

  private take(n: number): TraceEvent[] {
    if (n === 0) return [];
    const out = this.held.splice(0, n).map((h) => h.event);
    this.lastOutMs = Math.max(this.lastOutMs, out.at(-1)!.timeMs);
    return out;
  }
}
