// reset_peer: when data (or the end) next arrives, wait `timeout` ms, then abort both sockets with
// RST. What arrives meanwhile is dropped, as Toxiproxy drops it.

import { PassStage, type Attributes, type StageContext, type TcpToxic } from './toxic.ts';

class ResetPeerStage extends PassStage {
  private readonly ctx: StageContext;
  private readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private armed = false;

  constructor(a: Attributes, ctx: StageContext) {
    super();
    this.ctx = ctx;
    this.timeoutMs = a.timeout!;
  }
  override push(chunk: Buffer): void {
    this.ctx.dropped(chunk.length);
    this.arm();
  }
  override end(): void {
    this.arm();
  }
  override close(): void {
    this.arm();
  }
  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    if (this.timeoutMs === 0) this.ctx.reset();
    else this.timer = setTimeout(() => this.ctx.reset(), this.timeoutMs);
  }
  override interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
  override dispose(): void {
    this.interrupt();
  }
}

export const resetPeer: TcpToxic = {
  mode: 'tcp',
  type: 'reset_peer',
  doc: 'RST both ways timeout ms after the next data',
  attributes: { timeout: { default: 0, unit: 'ms', doc: 'ms after the next data until the RST' } },
  createStage: (a, ctx) => new ResetPeerStage(a, ctx),
};
