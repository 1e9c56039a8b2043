// slicer: every chunk cut into pieces of average_size ± size_variation bytes, each written on its
// own with `delay` µs after it (Toxiproxy's recursive halving and its wait between pieces), so that
// a reader sees many small reads of the same bytes.

import { MAX_TIMER_MS, PassStage, type Attributes, type TcpToxic } from './toxic.ts';

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
  if (variation > 0) mid = Math.min(end - 1, Math.max(start + 1, mid + Math.floor(Math.random() * 2 * variation) - variation));
  slicePoints(start, mid, average, variation, out);
  slicePoints(mid, end, average, variation, out);
}

const END = 1;
const CLOSE = 2;

class SlicerStage extends PassStage {
  private readonly average: number;
  private readonly variation: number;
  private readonly delayMs: number;
  private queue: (Buffer | number)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(a: Attributes) {
    super();
    this.average = Math.max(1, a.average_size!);
    this.variation = a.size_variation!;
    this.delayMs = Math.min(MAX_TIMER_MS, a.delay! / 1000);
  }
  override push(chunk: Buffer): void {
    const cuts: number[] = [];
    slicePoints(0, chunk.length, this.average, this.variation, cuts);
    let from = 0;
    for (const to of cuts) {
      if (to > from) this.queue.push(chunk.subarray(from, to));
      from = to;
    }
    this.pump();
  }
  override end(): void {
    this.queue.push(END);
    this.pump();
  }
  override close(): void {
    this.queue.push(CLOSE);
    this.pump();
  }
  /** One piece out, then a wait of `delay` before the next, as Toxiproxy waits after each. */
  private pump(): void {
    while (this.timer === undefined && this.queue.length > 0) {
      this.emit(this.queue.shift()!);
      if (this.delayMs > 0) this.timer = setTimeout(this.onTimer, this.delayMs);
    }
  }
  private onTimer = (): void => {
    this.timer = undefined;
    this.pump();
  };
  private emit(item: Buffer | number): void {
    if (typeof item !== 'number') this.next.push(item);
    else if (item === END) this.next.end();
    else this.next.close();
  }
  override interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const held = this.queue;
    this.queue = [];
    for (const item of held) this.emit(item);
  }
  override dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
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
