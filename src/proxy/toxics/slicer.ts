// slicer: every chunk cut into pieces of average_size ± size_variation bytes, each written on its
// own with `delay` µs after it (Toxiproxy's recursive halving and its wait between pieces), so that
// a reader sees many small reads of the same bytes.

import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS, type Attributes, type TcpToxic } from './toxic.ts';
import { QueuedStage } from './timed-queue.ts';

/**
 * Cut points of [start, end): halves until a piece is within average + variation. The varied
 * midpoint is kept strictly inside the piece: a variation larger than half of it would otherwise
 * cut outside it, and the pieces would overlap (bytes sent twice) or run backwards.
 */
export function slicePoints(start: number, end: number, average: number, variation: number, out: number[]): void {
  if (end - start - average <= variation || end - start <= 1) {
    out.push(end);
    return;
  }
  let mid = start + Math.floor((end - start) / 2);
  if (variation > 0)
    mid = Math.min(end - 1, Math.max(start + 1, mid + Math.floor(Math.random() * 2 * variation) - variation));
  slicePoints(start, mid, average, variation, out);
  slicePoints(mid, end, average, variation, out);
}

/**
 * The pieces leave `delay` apart on a clock of their own: piece k of a run goes at the run's start
 * plus k delays, so that waits of a few µs add up to their sum on average, as Toxiproxy's sleeps do,
 * instead of the millisecond a timer would take for each; pieces that fell due together still leave
 * one per turn of the loop, each its own write.
 */
class SlicerStage extends QueuedStage {
  private readonly average: number;
  private readonly variation: number;
  private readonly delayMs: number;
  /** When the next piece may go: a delay after the last one. */
  private nextAt = 0;

  constructor(a: Attributes) {
    super(true);
    this.average = Math.max(1, a.average_size!);
    this.variation = a.size_variation!;
    this.delayMs = Math.min(MAX_TIMER_MS, a.delay! / 1000);
  }
  override push(chunk: Buffer): void {
    const cuts: number[] = [];
    slicePoints(0, chunk.length, this.average, this.variation, cuts);
    let at = Math.max(performance.now(), this.nextAt);
    let from = 0;
    for (const to of cuts) {
      if (to > from) {
        this.queue.add(at, chunk.subarray(from, to));
        at += this.delayMs;
      }
      from = to;
    }
    this.nextAt = at;
  }
}

export const slicer: TcpToxic = {
  mode: 'tcp',
  type: 'slicer',
  doc: 'cut data into pieces of average_size ± size_variation bytes, delay µs apart',
  attributes: {
    average_size: { default: 0, unit: 'count', doc: 'bytes per piece, on average' },
    size_variation: { default: 0, unit: 'count', doc: 'bytes of variation, ±' },
    delay: { default: 0, unit: 'us', doc: 'µs between pieces' },
  },
  createStage: (a) => new SlicerStage(a),
};
