// Chunks and end signals released in order, each no earlier than its time, with one timer per queue:
// what latency, bandwidth and slicer hold. Times are performance.now() milliseconds.

import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS, PassStage, type Sink } from './toxic.ts';

const END = 1;
const CLOSE = 2;

export class TimedQueue {
  private times: number[] = [];
  private items: (Buffer | number)[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sink: () => Sink;

  /** sink() is read at each release: the chain may relink the stage's next meanwhile. */
  constructor(sink: () => Sink) {
    this.sink = sink;
  }

  /** The time of the last item queued (or 0): later items never go before it, so nothing reorders. */
  lastAt = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  add(at: number, chunk: Buffer): void {
    this.enqueue(at, chunk);
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
    this.release(Infinity);
  }

  /** Forget everything (the connection is gone). */
  dispose(): void {
    this.cancel();
    this.times = [];
    this.items = [];
    this.head = 0;
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private enqueue(at: number, item: Buffer | number): void {
    if (at < this.lastAt) at = this.lastAt;
    this.lastAt = at;
    this.times.push(at);
    this.items.push(item);
    if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    if (this.head >= this.items.length) return;
    // setTimeout has millisecond resolution; anything due within half a millisecond goes now.
    // A wait past MAX_TIMER_MS is taken in steps: onTimer releases only what is due, then re-arms.
    const wait = this.times[this.head]! - performance.now();
    this.timer = setTimeout(this.onTimer, wait > 0.5 ? Math.min(MAX_TIMER_MS, Math.ceil(wait - 0.5)) : 0);
  }

  private onTimer = (): void => {
    this.timer = undefined;
    this.release(performance.now() + 0.5);
    this.arm();
  };

  private release(until: number): void {
    while (this.head < this.items.length && this.times[this.head]! <= until) {
      const item = this.items[this.head]!;
      this.items[this.head] = 0; // let the chunk go
      this.head++;
      const sink = this.sink();
      if (typeof item !== 'number') sink.push(item);
      else if (item === END) sink.end();
      else sink.close();
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.times = this.times.slice(this.head);
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** A stage whose chunks wait in a TimedQueue: the end follows the last chunk, an interrupt lets all go. */
export abstract class QueuedStage extends PassStage {
  protected readonly queue = new TimedQueue(() => this.next);

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
