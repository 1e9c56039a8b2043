// timeout: nothing gets through; after `timeout` ms the connection is closed. 0 holds it open
// for as long as the toxic stays; removing the toxic then closes it (Toxiproxy's Cleanup).

import { PassStage, type Attributes, type StageContext, type TcpToxic } from './toxic.ts';

class TimeoutStage extends PassStage {
  private readonly ctx: StageContext;
  private timer: NodeJS.Timeout | undefined;

  constructor(a: Attributes, ctx: StageContext) {
    super();
    this.ctx = ctx;
    if (a.timeout! > 0) this.timer = setTimeout(() => this.next.close(), a.timeout);
  }
  override push(chunk: Buffer): void {
    this.ctx.dropped(chunk.length);
  }
  override interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
  cleanup(): void {
    this.next.close();
  }
  override dispose(): void {
    this.interrupt();
  }
}

export const timeout: TcpToxic = {
  mode: 'tcp',
  type: 'timeout',
  doc: 'let nothing through; close after timeout ms (0: until the toxic is removed)',
  attributes: { timeout: { default: 0, unit: 'ms', doc: 'ms until the connection is closed; 0: never' } },
  createStage: (a, ctx) => new TimeoutStage(a, ctx),
};
