// limit_data: exactly `bytes` bytes get through, then the connection is closed. The count survives
// an update of the toxic (Toxiproxy's stateful LimitDataToxic).

import { PassStage, type Attributes, type StageContext, type TcpToxic } from './toxic.ts';

interface LimitState {
  transmitted: number;
}

class LimitDataStage extends PassStage {
  private readonly limit: number;
  private readonly ctx: StageContext;
  private readonly state: LimitState;
  private closed = false;

  constructor(a: Attributes, ctx: StageContext, state: LimitState) {
    super();
    this.limit = a.bytes!;
    this.ctx = ctx;
    this.state = state;
  }
  override push(chunk: Buffer): void {
    if (this.closed) {
      this.ctx.dropped(chunk.length);
      return;
    }
    const remaining = Math.max(0, this.limit - this.state.transmitted);
    let out = chunk;
    if (remaining < chunk.length) {
      out = chunk.subarray(0, remaining);
      this.ctx.dropped(chunk.length - remaining);
    }
    if (out.length > 0) {
      this.state.transmitted += out.length;
      this.next.push(out);
    }
    if (this.limit - this.state.transmitted <= 0) {
      this.closed = true;
      this.next.close();
    }
  }
  override end(): void {
    if (!this.closed) this.next.end();
  }
  override close(): void {
    if (!this.closed) this.next.close();
  }
}

export const limitData: TcpToxic = {
  mode: 'tcp',
  type: 'limit_data',
  doc: 'close the connection after exactly bytes bytes',
  attributes: { bytes: { default: 0, unit: 'count', doc: 'bytes let through before the close' } },
  newState: (): LimitState => ({ transmitted: 0 }),
  createStage: (a, ctx, state) => new LimitDataStage(a, ctx, state as LimitState),
};
