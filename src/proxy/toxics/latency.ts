// latency: every chunk leaves `latency` ± `jitter` ms after it arrived, in order, each on its own
// clock, so that delays overlap and throughput is kept (Toxiproxy's LatencyToxic).

import { performance } from 'node:perf_hooks';
import { jittered, type Attributes, type TcpToxic } from './toxic.ts';
import { QueuedStage } from './timed-queue.ts';

class LatencyStage extends QueuedStage {
  private readonly latencyMs: number;
  private readonly jitterMs: number;

  constructor(a: Attributes) {
    super();
    this.latencyMs = a.latency!;
    this.jitterMs = a.jitter!;
  }
  override push(chunk: Buffer): void {
    const now = performance.now();
    this.queue.add(now + jittered(this.latencyMs, this.jitterMs), chunk, now);
  }
}

export const latency: TcpToxic = {
  mode: 'tcp',
  type: 'latency',
  doc: 'delay every chunk by latency ± jitter ms, in order',
  attributes: {
    latency: { default: 0, unit: 'ms', doc: 'ms added to every chunk' },
    jitter: { default: 0, unit: 'ms', doc: 'ms of uniform variation, ±' },
  },
  inert: (a) => a.latency! <= 0 && a.jitter! <= 0,
  createStage: (a) => new LatencyStage(a),
};
