// slow_close: data flows; the end of the stream (FIN) is held `delay` ms.

import { PassStage, type Attributes, type TcpToxic } from './toxic.ts';

class SlowCloseStage extends PassStage {
  private readonly delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private held: 'end' | 'close' | undefined;

  constructor(a: Attributes) {
    super();
    this.delayMs = a.delay!;
  }
  override end(): void {
    this.hold('end');
  }
  override close(): void {
    this.hold('close');
  }
  private hold(kind: 'end' | 'close'): void {
    // An end already held, then a close (a timeout toxic firing): one timer, the stronger kind.
    if (this.timer) clearTimeout(this.timer);
    this.held = this.held === 'close' ? 'close' : kind;
    this.timer = setTimeout(() => this.release(), this.delayMs);
  }
  private release(): void {
    const kind = this.held;
    this.held = undefined;
    this.timer = undefined;
    if (kind === 'end') this.next.end();
    else if (kind === 'close') this.next.close();
  }
  override interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.release();
  }
  override dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.held = undefined;
  }
}

export const slowClose: TcpToxic = {
  mode: 'tcp',
  type: 'slow_close',
  doc: 'hold the end of the stream (FIN) for delay ms',
  attributes: { delay: { default: 0, unit: 'ms', doc: 'ms the close is held' } },
  createStage: (a) => new SlowCloseStage(a),
};
