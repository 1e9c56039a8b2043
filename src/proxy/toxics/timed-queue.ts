// Chunks and end signals released in order, each no earlier than its time: what latency, bandwidth
// and slicer hold. Times are performance.now() milliseconds.
//
// A queue waits for its first item's time in the thread's wake schedule (wake-schedule.ts), which
// wakes every queue due by then at once, whether the wait is of milliseconds or microseconds. Each
// item keeps its own due time, so a run of sub-millisecond waits (a slicer's pieces) adds up to their
// sum, not to a millisecond each. A chunk already due when it arrives at an empty queue goes on at
// once, with no wait at all.

import { performance } from 'node:perf_hooks';
import { PassStage, type Sink } from './toxic.ts';
import { cancelWake, wakeAt, type Waker } from './wake-schedule.ts';

const END = 1;
const CLOSE = 2;

export class TimedQueue implements Waker {
  private times: number[] = [];
  private items: (Buffer | number)[] = [];
  private head = 0;
  wakeAt = 0;
  slot = -1;
  private releasing = false;
  private disposed = false;
  private readonly sink: () => Sink;
  private readonly onePerTurn: boolean;

  /**
   * sink() is read at each release: the chain may relink the stage's next meanwhile. `onePerTurn`:
   * items that fell due together still leave one per turn of the loop, so that writes due within
   * microseconds of each other stay apart (the slicer's pieces reach a reader as separate reads).
   */
  constructor(sink: () => Sink, onePerTurn = false) {
    this.sink = sink;
    this.onePerTurn = onePerTurn;
  }

  /** The time of the last item queued (or 0): later items never go before it, so nothing reorders. */
  lastAt = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /**
   * `now`: the clock `at` was computed from, when the caller read it. Read again here it would be a
   * little later, and a wait of exactly a millisecond would come out just under one: it would be
   * slept out in slices instead of a timer waiting for most of it.
   */
  add(at: number, chunk: Buffer, now?: number): void {
    this.enqueue(at, chunk, now);
  }
  end(at: number): void {
    this.enqueue(at, END);
  }
  close(at: number): void {
    this.enqueue(at, CLOSE);
  }

  /** Release everything now, in order (the toxic is interrupted). */
  flush(): void {
    this.cancel();
    this.release(Infinity, Infinity);
  }

  /** Forget everything (the connection is gone). */
  dispose(): void {
    this.cancel();
    this.disposed = true;
    this.times = [];
    this.items = [];
    this.head = 0;
  }

  /** From the wake schedule: release what is due, wait for the rest. */
  wake(now: number): void {
    if (this.disposed) return;
    this.release(now, this.onePerTurn ? 1 : Infinity);
    this.arm(now);
  }

  private cancel(): void {
    cancelWake(this);
  }

  private enqueue(at: number, item: Buffer | number, known?: number): void {
    if (this.disposed) return;
    if (at < this.lastAt) at = this.lastAt;
    this.lastAt = at;
    if (this.head === this.items.length && !this.releasing) {
      // Nothing ahead of it: if already due it goes on now, without being stored.
      const now = known ?? performance.now();
      if (at <= now) {
        this.emit(item);
        return;
      }
      this.times.push(at);
      this.items.push(item);
      this.arm(now);
      return;
    }
    this.times.push(at);
    this.items.push(item);
  }

  private arm(now: number): void {
    if (this.slot >= 0 || this.disposed || this.head >= this.items.length) return;
    wakeAt(this, this.times[this.head]!, now);
  }

  private emit(item: Buffer | number): void {
    const sink = this.sink();
    if (typeof item !== 'number') sink.push(item);
    else if (item === END) sink.end();
    else sink.close();
  }

  private release(until: number, most: number): void {
    if (this.releasing) return;
    this.releasing = true;
    try {
      // A sink may dispose of this queue (the connection closes) while it runs: re-read each time.
      for (let n = 0; n < most && this.head < this.items.length && this.times[this.head]! <= until; n++) {
        const item = this.items[this.head]!;
        this.items[this.head] = 0; // let the chunk go
        this.head++;
        this.emit(item);
      }
    } finally {
      this.releasing = false;
    }
    if (this.head === this.items.length) {
      if (this.head > 0) {
        this.times = [];
        this.items = [];
        this.head = 0;
      }
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.times = this.times.slice(this.head);
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** A stage whose chunks wait in a TimedQueue: the end follows the last chunk, an interrupt lets all go. */
export abstract class QueuedStage extends PassStage {
  protected readonly queue: TimedQueue;

  constructor(onePerTurn = false) {
    super();
    this.queue = new TimedQueue(() => this.next, onePerTurn);
  }

  // The end is not delayed itself: it goes right after the last chunk (Toxiproxy closes when it reads it).
  override end(): void {
    this.queue.end(performance.now());
  }
  override close(): void {
    this.queue.close(performance.now());
  }
  override interrupt(): void {
    this.queue.flush();
  }
  override dispose(): void {
    this.queue.dispose();
  }
}
