// Putting bpftrace's events back in the order the kernel made them. Pure: the caller brings the clock.
//
// The kernel writes each CPU's events into that CPU's perf buffer, in order, and bpftrace reads the
// buffers one after the other: an event from one CPU can come out after a later one from another.
// On loopback that shows up as a server's CLOSE_WAIT → LAST_ACK printed before the ESTABLISHED →
// CLOSE_WAIT that caused it (seen in CI). Events therefore wait a hold after they arrive, and leave
// sorted by their kernel time once nothing that arrives later can be older than they are.
//
// How long is enough depends on how far behind bpftrace is. While it keeps up, events arrive a
// millisecond after the kernel made them and 50 ms is plenty. Under load it reads a backlog of
// seconds from one CPU's buffer before it turns to the next one's (seen: 1.9 s at 13,000
// transitions/s on a saturated machine), and the other CPU's events come that much later. So the
// hold follows the delivery lag (arrival time − kernel time, one clock) of recent arrivals: the
// largest lag seen in the last LAG_WINDOW_MS, plus the minimum hold as a margin, within a cap.

import type { TraceEvent } from './event.ts';

/** The shortest hold: what events wait while bpftrace keeps up; a person never notices it. */
export const DEFAULT_HOLD_MS = 50;
/** The longest hold: events later than this are printed out of order (and counted as late). */
export const MAX_HOLD_MS = 5_000;
/** How long a delivery lag keeps the hold up after it was seen: a backlog comes back while the load lasts. */
export const LAG_WINDOW_MS = 10_000;

export interface ReorderOptions {
  minHoldMs?: number;
  maxHoldMs?: number;
}

export class ReorderBuffer {
  /** Sorted by kernel time whenever `sorted` is true; events are appended as they arrive. */
  private held: TraceEvent[] = [];
  private sorted = true;
  /** Arrival times and the newest kernel time of the events that came then, in arrival order (non-decreasing), from `next` on not yet due. */
  private arrivals: number[] = [];
  private kernelTimes: number[] = [];
  private next = 0;
  /** The newest kernel time among events that have waited their hold: everything up to it may leave. */
  private cutoff = -Infinity;
  private lastOutMs = -Infinity;
  /** The largest delivery lag in the current and the previous half of the lag window. */
  private lagNow = 0;
  private lagBefore = 0;
  private lagSince = -Infinity;
  /** Events that arrived after a newer one had already left: later than the hold allowed. */
  late = 0;
  /** The longest hold used so far (for the notice about late events). */
  longestHoldMs = 0;

  readonly minHoldMs: number;
  readonly maxHoldMs: number;

  constructor(o: ReorderOptions = {}) {
    this.minHoldMs = o.minHoldMs ?? DEFAULT_HOLD_MS;
    this.maxHoldMs = Math.max(this.minHoldMs, o.maxHoldMs ?? MAX_HOLD_MS);
  }

  get size(): number {
    return this.held.length;
  }

  /** The kernel time of the oldest event held, or undefined when none is. */
  oldestMs(): number | undefined {
    if (this.held.length === 0) return undefined;
    if (this.sorted) return this.held[0]!.timeMs;
    let oldest = Infinity;
    for (const e of this.held) if (e.timeMs < oldest) oldest = e.timeMs;
    return oldest;
  }

  /** How long events wait now: the minimum, plus the largest delivery lag seen lately, within the cap. */
  get holdMs(): number {
    return Math.min(this.maxHoldMs, this.minHoldMs + Math.max(this.lagNow, this.lagBefore));
  }

  /** Forgets lags older than the window (two halves: a lag counts for 5 to 10 s). */
  private age(nowMs: number): void {
    if (nowMs - this.lagSince < LAG_WINDOW_MS / 2) return;
    this.lagBefore = nowMs - this.lagSince >= LAG_WINDOW_MS ? 0 : this.lagNow;
    this.lagNow = 0;
    this.lagSince = nowMs;
  }

  /** An event read from bpftrace at arrivalMs, on the clock of event.timeMs (epoch ms from CLOCK_MONOTONIC). */
  push(event: TraceEvent, arrivalMs: number): void {
    const held = this.held;
    if (held.length > 0 && event.timeMs < held[held.length - 1]!.timeMs) this.sorted = false;
    if (event.timeMs < this.lastOutMs) this.late++;
    held.push(event);
    // Events read at once (one chunk of bpftrace's output) share their arrival: one entry holds
    // their newest kernel time, unless release() has already passed it.
    const k = this.arrivals.length;
    if (k > this.next && this.arrivals[k - 1] === arrivalMs) {
      if (event.timeMs > this.kernelTimes[k - 1]!) this.kernelTimes[k - 1] = event.timeMs;
    } else {
      this.arrivals.push(arrivalMs);
      this.kernelTimes.push(event.timeMs);
    }
    this.age(arrivalMs);
    const lag = arrivalMs - event.timeMs;
    if (lag > this.lagNow) this.lagNow = lag;
  }

  /**
   * The events that may leave at nowMs, oldest first: every event no newer than the newest of those
   * that have waited the whole hold (anything older still to come would have to be later than that).
   */
  release(nowMs: number): TraceEvent[] {
    this.age(nowMs);
    const hold = this.holdMs;
    if (hold > this.longestHoldMs) this.longestHoldMs = hold;
    const due = nowMs - hold;
    while (this.next < this.arrivals.length && this.arrivals[this.next]! <= due) {
      if (this.kernelTimes[this.next]! > this.cutoff) this.cutoff = this.kernelTimes[this.next]!;
      this.next++;
    }
    if (this.next > 4096 && this.next * 2 > this.arrivals.length) this.compact();
    if (this.held.length === 0 || this.cutoff === -Infinity) return [];
    this.sort();
    let n = 0;
    while (n < this.held.length && this.held[n]!.timeMs <= this.cutoff) n++;
    return this.take(n);
  }

  /** Everything still held, oldest first (at the end of a trace). */
  drain(): TraceEvent[] {
    this.sort();
    this.next = this.arrivals.length;
    this.compact();
    return this.take(this.held.length);
  }

  /** When the oldest arrival not yet due will have waited the hold (as long as it is now), or undefined when none is held. */
  nextDueMs(): number | undefined {
    if (this.held.length === 0) return undefined;
    return (this.arrivals[this.next] ?? this.arrivals.at(-1)!) + this.holdMs;
  }

  private compact(): void {
    this.arrivals = this.arrivals.slice(this.next);
    this.kernelTimes = this.kernelTimes.slice(this.next);
    this.next = 0;
  }

  private sort(): void {
    // Stable: events with the same kernel time keep the order they came in.
    if (!this.sorted) this.held.sort((a, b) => a.timeMs - b.timeMs);
    this.sorted = true;
  }

  private take(n: number): TraceEvent[] {
    if (n === 0) return [];
    const out = this.held.splice(0, n);
    this.lastOutMs = Math.max(this.lastOutMs, out.at(-1)!.timeMs);
    return out;
  }
}
