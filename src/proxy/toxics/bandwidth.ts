// bandwidth: at most `rate` KB/s (1 KB = 1000 bytes, as Toxiproxy counts), in slices of at most
// 100 ms worth of bytes, each let through once the time it costs has passed.

import { performance } from 'node:perf_hooks';
import type { Attributes, TcpToxic } from './toxic.ts';
import { QueuedStage } from './timed-queue.ts';

/**
 * A piece whose time is up within this goes at once, not a turn of the event loop later: at rates
 * above the link's a turn per piece costs more than the pacing, and while a piece waits the source
 * is read in small pieces. The link's clock (freeAt) still counts its full time, so over any span
 * longer than this the rate holds.
 */
const SLACK_MS = 0.05;

class BandwidthStage extends QueuedStage {
  private readonly bytesPerMs: number;
  /** When the link is free again: the virtual clock of bytes already paid for. */
  private freeAt = 0;

  constructor(a: Attributes) {
    super();
    this.bytesPerMs = a.rate!; // KB/s == bytes/ms
  }
  override push(chunk: Buffer): void {
    if (this.bytesPerMs <= 0) {
      if (this.queue.size === 0) this.next.push(chunk);
      else this.queue.add(this.queue.lastAt, chunk);
      return;
    }
    const slice = this.bytesPerMs * 100;
    const now = performance.now();
    let t = Math.max(now, this.freeAt);
    for (let off = 0; off < chunk.length; off += slice) {
      const piece =
        off === 0 && chunk.length <= slice ? chunk : chunk.subarray(off, Math.min(chunk.length, off + slice));
      t += piece.length / this.bytesPerMs;
      this.queue.add(t - now <= SLACK_MS ? now : t, piece);
    }
    this.freeAt = t;
  }
}

export const bandwidth: TcpToxic = {
  mode: 'tcp',
  type: 'bandwidth',
  doc: 'limit throughput to rate KB/s',
  attributes: { rate: { default: 0, unit: 'count', doc: 'KB/s (1 KB = 1000 bytes); 0: no limit' } },
  inert: (a) => a.rate! <= 0,
  createStage: (a) => new BandwidthStage(a),
};
