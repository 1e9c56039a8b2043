// When the timed queues of this thread wake: one schedule for all of them, ordered by the time their
// first item is due, with one Node timer for the earliest, so that a thread with many delayed
// connections takes one wake-up for everything due by then rather than one timer per queue.
//
// Node's timers count whole milliseconds of the loop's clock, the monotonic clock cut down to the
// millisecond: an idle loop's timer of n ms fires n ms after the loop starts to wait, a busy loop's
// as that clock turns, up to a millisecond sooner. The timer waits the whole milliseconds of the
// wait, so it fires before the due time either way; what is left (under two milliseconds when busy)
// is slept out (Atomics.wait: no CPU spent) in short sleeps with a turn of the event loop after
// each, so that I/O is served meanwhile. A sleep overruns what it asks for (the kernel's timer slack
// and waking up): it asks for that much less, so the last sleep ends about on time, and only what is
// left then, shorter than an overrun, is waited by turning the loop (setImmediate), as are a
// slicer's microseconds. Turning the loop for the whole wait would take a core from the processes
// the proxy serves. Nothing is released before its time: each wake compares with performance.now().

import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS } from './toxic.ts';
import { setTimerSlackNs } from '../../kernel/libc.ts';

/** Something that waits for a time: a timed queue. */
export interface Waker {
  /** When it wants to wake (performance.now() ms); kept by the schedule. */
  wakeAt: number;
  /** Its place in the schedule, -1 when not in it; kept by the schedule. */
  slot: number;
  /** Its time came: release what is due by `now`, and wake(..) again for the rest. */
  wake(now: number): void;
}

/**
 * A sleep asks for at most this long, then the loop turns (I/O is served) before the next: a thread
 * that sleeps keeps I/O waiting for this plus what a sleep overruns.
 */
export const SLEEP_SLICE_MS = 0.05;
/** A sleep shorter than this is not asked for: a turn of the loop takes about as long. */
export const TURN_MS = 0.02;
/**
 * What a sleep overruns what it asked for is learnt as sleeps are taken (the kernel's timer slack,
 * 50 µs for a thread by default, and waking up), counted at most this much: more is the machine
 * being busy, not the sleep, and the loop turns for at most this long before an item's time.
 */
const MAX_OVERRUN_MS = 0.1;

/**
 * This thread's timer slack once it sleeps here: a sleep (and the loop's own epoll wait) then ends
 * within a microsecond of its time, not up to the default 50 µs later, so I/O waits less behind a
 * sleep and fewer turns are needed after it. Asked at the first sleep only: a process whose proxy
 * never waits under a millisecond keeps its slack.
 */
const TIMER_SLACK_NS = 1000;
let slackAsked = false;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** What sleeps overran lately: a moving average, within [0, MAX_OVERRUN_MS]. */
let overrunMs = 0.05;

/** A min-heap on wakeAt. */
const heap: Waker[] = [];
let timer: NodeJS.Timeout | undefined;
/** The performance.now() time by which the armed timer fires at the latest, if the loop is not held up. */
let timerAt = Number.POSITIVE_INFINITY;
let turnPending = false;

/** Wake `w` at `at` (performance.now() ms), earlier or later than it was to. */
export function wakeAt(w: Waker, at: number, now: number): void {
  w.wakeAt = at;
  if (w.slot < 0) {
    w.slot = heap.length;
    heap.push(w);
    up(w.slot);
  } else if (!up(w.slot)) down(w.slot);
  if (heap[0] === w) plan(now);
}

/** `w` no longer waits. */
export function cancelWake(w: Waker): void {
  const i = w.slot;
  if (i < 0) return;
  w.slot = -1;
  const last = heap.pop()!;
  if (last !== w) {
    heap[i] = last;
    last.slot = i;
    if (!up(i)) down(i);
  }
  // Nothing waits: no timer may keep the process alive. Otherwise the timer armed for `w` may come
  // early: it then finds nothing due and re-plans.
  if (heap.length === 0 && timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
    timerAt = Number.POSITIVE_INFINITY;
  }
}

/** Queues waiting, for tests. */
export function waiting(): number {
  return heap.length;
}

function up(i: number): boolean {
  const w = heap[i]!;
  const start = i;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pw = heap[p]!;
    if (pw.wakeAt <= w.wakeAt) break;
    heap[i] = pw;
    pw.slot = i;
    i = p;
  }
  heap[i] = w;
  w.slot = i;
  return i !== start;
}

function down(i: number): void {
  const w = heap[i]!;
  const n = heap.length;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap[c + 1]!.wakeAt < heap[c]!.wakeAt) c++;
    const cw = heap[c]!;
    if (cw.wakeAt >= w.wakeAt) break;
    heap[i] = cw;
    cw.slot = i;
    i = c;
  }
  heap[i] = w;
  w.slot = i;
}

/** How the earliest wake is waited for, from `now`: a timer, or a turn of the loop (which may sleep first). */
function plan(now: number): void {
  if (heap.length === 0 || turnPending) return;
  const at = heap[0]!.wakeAt;
  const left = at - now;
  if (left >= 1) {
    if (timerAt <= at) return;
    const n = Math.min(MAX_TIMER_MS, Math.floor(left));
    if (timer !== undefined) clearTimeout(timer);
    timerAt = now + n;
    timer = setTimeout(onTimer, n);
    return;
  }
  turnPending = true;
  setImmediate(onTurn);
}

function onTimer(): void {
  timer = undefined;
  timerAt = Number.POSITIVE_INFINITY;
  run();
}

function onTurn(): void {
  turnPending = false;
  run();
}

/** Wake everything due now, each once; then sleep a little toward the next, and plan it. */
function run(): void {
  let now = performance.now();
  release(now);
  if (heap.length === 0) return;
  const left = heap[0]!.wakeAt - now;
  // A millisecond or more away, a timer waits instead.
  if (left - overrunMs > TURN_MS && left < 1) {
    if (!slackAsked) {
      slackAsked = true;
      setTimerSlackNs(TIMER_SLACK_NS);
    }
    const ask = Math.min(left - overrunMs, SLEEP_SLICE_MS);
    Atomics.wait(sleeper, 0, 0, ask);
    const slept = performance.now() - now;
    overrunMs += (Math.min(MAX_OVERRUN_MS, Math.max(0, slept - ask)) - overrunMs) / 8;
    now += slept;
    release(now);
  }
  plan(now);
}

const due: Waker[] = [];

function release(now: number): void {
  // Taken out first: a waker due again at once (one item per turn) waits for the next turn.
  while (heap.length > 0 && heap[0]!.wakeAt <= now) {
    const w = heap[0]!;
    cancelWake(w);
    due.push(w);
  }
  for (let i = 0; i < due.length; i++) {
    const w = due[i]!;
    due[i] = undefined as unknown as Waker;
    w.wake(now);
  }
  due.length = 0;
}
