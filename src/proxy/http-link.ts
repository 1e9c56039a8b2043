// A proxied connection in HTTP mode: requests framed on the way up, responses on the way down, and
// each request's fault plan (rolled per request from the proxy's HTTP toxics) carried out between
// them, so that faults hit single requests of a keep-alive connection. Requests on a connection are
// handled one at a time: a pipelined request waits, unread, until the previous response is complete.
// What each toxic does is in its own file (toxics/http-*.ts); here are the primitives its plan
// uses: delays, an answer in place of the upstream's, a withheld response, a response cut short.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { dialUpstream, type ConnectionHost, type ProxiedConnection } from './connection.ts';
import { MessageFramer, type MessageHead } from '../http/message-framer.ts';
import { MAX_TIMER_MS, emptyPlan, type HttpAnswer, type HttpToxic, type RequestPlan } from './toxics/toxic.ts';

// Why a socket is paused; it reads again when no reason is left.
const WAITING = 1; // its bytes wait for the exchange in flight
const FULL = 2; // the other socket's write buffer is full

class Gate {
  private reasons = 0;
  private readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
  }
  add(reason: number): void {
    if (this.reasons === 0) this.socket.pause();
    this.reasons |= reason;
  }
  remove(reason: number): void {
    if ((this.reasons & reason) === 0) return;
    this.reasons &= ~reason;
    if (this.reasons === 0) this.socket.resume();
  }
}

/** One request and its response. */
interface Exchange {
  plan: RequestPlan;
  requestDone: boolean;
  responseDone: boolean;
  /** The proxy answered (status toxic); the request never went upstream. */
  answered: boolean;
  /** Close the connection once the answered request is read (it asked for Connection: close). */
  closeAfter: boolean;
  /** The plan cuts the response short: its cuts are asked before bytes go. */
  cutting: boolean;
  /** The response is withheld and dropped. */
  stalled: boolean;
  /** The proxy's answer waits for the end of this request's body. */
  answerAfterBody: MessageHead | undefined;
}

export class HttpConnection implements ProxiedConnection {
  private readonly host: ConnectionHost;
  private readonly client: Socket;
  private upstream: Socket | undefined;
  private readonly requests = new MessageFramer('request');
  private readonly responses = new MessageFramer('response');
  private clientGate: Gate;
  private upstreamGate: Gate | undefined;
  private exchange: Exchange | null = null;
  /** Not HTTP (any more): bytes pass through untouched both ways. */
  private tunnel = false;
  private clientPending: Buffer | null = null;
  private upstreamPending: Buffer | null = null;
  private requestHeld = false;
  private responseHeld = false;
  private inClient = false;
  private clientEnded = false;
  private upstreamEnded = false;
  private sentEndUp = false;
  private sentEndDown = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closedSockets = 0;
  private connected = false;
  private finished = false;

  constructor(host: ConnectionHost, client: Socket) {
    this.host = host;
    this.client = client;
    this.clientGate = new Gate(client);
  }

  start(): void {
    const client = this.client;
    client.setNoDelay(true);
    client.on('error', () => this.upstream?.resetAndDestroy());
    client.on('close', () => {
      if (!this.connected) {
        this.upstream?.destroy();
        this.finish();
      } else if (++this.closedSockets === 2) this.finish();
    });
    this.upstream = dialUpstream(this.host, client, (upstream) => {
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.connected = true;
      this.upstreamGate = new Gate(upstream);
      upstream.on('error', () => client.resetAndDestroy());
      upstream.on('close', () => {
        if (++this.closedSockets === 2) this.finish();
      });
      upstream.on('data', (chunk: Buffer) => {
        this.host.counters.bytesDownstream += chunk.length;
        if (this.upstreamPending) this.upstreamPending = Buffer.concat([this.upstreamPending, chunk]);
        else this.processUpstream(chunk, 0);
      });
      upstream.on('end', () => {
        this.upstreamEnded = true;
        this.afterUpstreamInput();
      });
      upstream.on('drain', () => this.clientGate.remove(FULL));
      client.on('data', (chunk: Buffer) => {
        this.host.counters.bytesUpstream += chunk.length;
        if (this.clientPending) this.clientPending = Buffer.concat([this.clientPending, chunk]);
        else this.processClient(chunk, 0);
      });
      client.on('end', () => {
        this.clientEnded = true;
        this.afterClientInput();
      });
      client.on('drain', () => this.upstreamGate?.remove(FULL));
      client.resume();
    });
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  private reset(): void {
    this.client.resetAndDestroy();
    this.upstream?.resetAndDestroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.host.forget(this);
  }

  private later(ms: number, fn: () => void): void {
    // Several toxics' delays add up; each is at most MAX_TIMER_MS, their sum may not be.
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        if (!this.finished) fn();
      },
      Math.min(MAX_TIMER_MS, ms),
    );
    this.timers.add(t);
  }

  private toUpstream(bytes: Buffer): void {
    const up = this.upstream!;
    if (bytes.length === 0 || up.destroyed || this.sentEndUp) return;
    if (!up.write(bytes)) this.clientGate.add(FULL);
  }

  private toClient(bytes: Buffer, then?: () => void): void {
    if (this.client.destroyed || this.sentEndDown) return;
    if (bytes.length > 0 && !this.client.write(bytes, then)) this.upstreamGate?.add(FULL);
    else if (bytes.length === 0) then?.();
  }

  // ——— client → upstream ———

  private processClient(buf: Buffer, from: number): void {
    this.inClient = true;
    let pos = from;
    try {
      while (pos < buf.length) {
        if (this.tunnel) {
          this.toUpstream(buf.subarray(pos));
          return;
        }
        if (this.requestHeld || (this.exchange !== null && this.requests.atMessageStart)) {
          this.clientPending = buf.subarray(pos);
          this.clientGate.add(WAITING);
          return;
        }
        const step = this.requests.next(buf, pos);
        if (step.kind === 'more') return;
        if (step.kind === 'error') {
          this.enterTunnel();
          this.toUpstream(step.held);
          return;
        }
        if (step.kind === 'head') {
          pos = step.end;
          this.beginExchange(step.head, step.bodyless);
          continue;
        }
        const ex = this.exchange!;
        if (!ex.answered) this.toUpstream(buf.subarray(pos, step.end));
        pos = step.end;
        if (step.complete) this.requestComplete(ex);
      }
    } finally {
      this.inClient = false;
      this.afterClientInput();
    }
  }

  /** Go on with client bytes that waited, once nothing holds them. */
  private drainClient(): void {
    if (this.inClient || this.requestHeld || this.finished) return;
    const pending = this.clientPending;
    if (pending) {
      this.clientPending = null;
      this.processClient(pending, 0);
    }
    if (!this.clientPending) this.clientGate.remove(WAITING);
    this.afterClientInput();
  }

  private afterClientInput(): void {
    if (this.clientEnded && !this.clientPending && !this.requestHeld && !this.sentEndUp && this.upstream) {
      this.sentEndUp = true;
      if (!this.upstream.destroyed) this.upstream.end();
    }
  }

  private beginExchange(head: MessageHead, bodyless: boolean): void {
    this.host.counters.requestsTotal++;
    const plan = emptyPlan();
    for (const entry of this.host.toxics.list()) {
      if (entry.appliesTo(this.client) && Math.random() < entry.toxicity) {
        entry.affectRequest();
        (entry.definition as HttpToxic).apply(entry.effective, entry.stream, plan, head);
      }
    }
    const ex: Exchange = {
      plan,
      requestDone: false,
      responseDone: false,
      answered: plan.answer !== undefined,
      closeAfter: false,
      cutting: plan.cuts.length > 0,
      stalled: false,
      answerAfterBody: undefined,
    };
    this.exchange = ex;
    this.responses.requestMethod = head.method;
    // The proxy answers once the request is read (a client may drop a connection whose answer came
    // while it was still sending), or at once when the client waits for one (Expect: 100-continue).
    const answerEarly = ex.answered && (bodyless || head.expectContinue);
    if (ex.answered && !answerEarly) ex.answerAfterBody = head;
    const go = () => {
      if (answerEarly) this.answer(ex, head);
      else if (!ex.answered) this.toUpstream(head.raw);
      if (bodyless) this.requestComplete(ex);
    };
    // An answered request waits as long as a forwarded one would, before and after the upstream.
    const delay = plan.requestDelayMs + (ex.answered ? plan.responseDelayMs : 0);
    if (delay <= 0) {
      go();
      return;
    }
    this.requestHeld = true;
    this.later(delay, () => {
      this.requestHeld = false;
      go();
      this.drainClient();
    });
  }

  /** The plan's answer, in place of the upstream's, framed for this request: keep-alive as asked, no body to HEAD. */
  private answer(ex: Exchange, head: MessageHead): void {
    const answer: HttpAnswer = ex.plan.answer!;
    const body = head.method === 'HEAD' ? '' : answer.body;
    ex.closeAfter = head.close;
    let text = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Unknown'}\r\n`;
    for (const [name, value] of Object.entries(answer.headers)) text += `${name}: ${value}\r\n`;
    text += `content-length: ${Buffer.byteLength(body)}\r\nconnection: ${head.close ? 'close' : 'keep-alive'}\r\n\r\n${body}`;
    this.toClient(Buffer.from(text, 'latin1'));
    ex.responseDone = true;
  }

  private requestComplete(ex: Exchange): void {
    ex.requestDone = true;
    if (ex.answerAfterBody) {
      this.answer(ex, ex.answerAfterBody);
      ex.answerAfterBody = undefined;
    }
    if (ex.responseDone) this.exchangeDone(ex);
  }

  private responseComplete(ex: Exchange): void {
    ex.responseDone = true;
    if (ex.requestDone) this.exchangeDone(ex);
  }

  private exchangeDone(ex: Exchange): void {
    if (this.exchange === ex) this.exchange = null;
    if (ex.answered && ex.closeAfter) {
      this.client.end();
      this.upstream?.end();
      return;
    }
    // After the current call stack: a response completing mid-chunk must not start the next request
    // while the upstream's chunk is still being read.
    queueMicrotask(() => this.drainClient());
  }

  // ——— upstream → client ———

  private processUpstream(buf: Buffer, from: number): void {
    let pos = from;
    while (pos < buf.length) {
      if (this.tunnel) {
        this.toClient(buf.subarray(pos));
        return;
      }
      const ex = this.exchange;
      if (ex?.stalled) return;
      if (this.responseHeld) {
        this.upstreamPending = buf.subarray(pos);
        this.upstreamGate!.add(WAITING);
        return;
      }
      const step = this.responses.next(buf, pos);
      if (step.kind === 'more') return;
      if (step.kind === 'error') {
        this.enterTunnel();
        this.toClient(step.held);
        return;
      }
      if (step.kind === 'head') {
        pos = step.end;
        if (step.head.tunnel) {
          this.toClient(step.head.raw);
          this.enterTunnel();
        } else if (!ex || ex.answered || step.head.interim) {
          // Not ours to fault: 1xx before the real answer, or bytes no request asked for.
          this.toClient(step.head.raw);
        } else {
          this.responseHead(ex, step.head, step.bodyless);
        }
        continue;
      }
      const part = buf.subarray(pos, step.end);
      pos = step.end;
      if (!ex || ex.answered) {
        this.toClient(part);
        continue;
      }
      if (ex.cutting) {
        if (this.cut(ex, part, 'body', step.complete)) return;
      } else {
        this.toClient(part);
      }
      if (step.complete) this.responseComplete(ex);
    }
  }

  private drainUpstream(): void {
    const pending = this.upstreamPending;
    if (pending) {
      this.upstreamPending = null;
      this.processUpstream(pending, 0);
    }
    if (!this.upstreamPending) this.upstreamGate?.remove(WAITING);
    this.afterUpstreamInput();
  }

  private afterUpstreamInput(): void {
    if (!this.upstreamEnded || this.upstreamPending || this.responseHeld || this.sentEndDown) return;
    const ex = this.exchange;
    if (ex?.stalled) return; // the client waits on, until the stall's timeout or its own
    if (ex && this.responses.untilClose) this.responseComplete(ex);
    this.sentEndDown = true;
    if (!this.client.destroyed) this.client.end();
  }

  private responseHead(ex: Exchange, head: MessageHead, bodyless: boolean): void {
    const plan = ex.plan;
    if (plan.stallMs >= 0) {
      ex.stalled = true;
      if (plan.stallMs > 0) this.later(plan.stallMs, () => this.destroy());
      return;
    }
    if (plan.responseDelayMs <= 0) {
      this.deliverHead(ex, head, bodyless);
      return;
    }
    this.responseHeld = true;
    this.later(plan.responseDelayMs, () => {
      this.responseHeld = false;
      this.deliverHead(ex, head, bodyless);
      this.drainUpstream();
    });
  }

  private deliverHead(ex: Exchange, head: MessageHead, bodyless: boolean): void {
    if (ex.cutting && this.cut(ex, head.raw, 'head', bodyless)) return;
    if (!ex.cutting) this.toClient(head.raw);
    if (bodyless) this.responseComplete(ex);
  }

  /**
   * Bytes of the response through the plan's cuts: all of them when every cut lets them go (false),
   * or as many as the strictest allows, then RST; true once the reset is under way.
   */
  private cut(ex: Exchange, part: Buffer, kind: 'head' | 'body', last: boolean): boolean {
    let allowed: number | undefined;
    for (const c of ex.plan.cuts) {
      const n = c.allow(part.length, kind, last);
      if (n !== undefined) allowed = Math.min(allowed ?? n, n);
    }
    if (allowed === undefined) {
      this.toClient(part);
      return false;
    }
    ex.stalled = true;
    this.toClient(part.subarray(0, Math.max(0, allowed)), () => this.reset());
    return true;
  }

  /** The connection left HTTP (101, CONNECT, or bytes we cannot frame): pass everything through. */
  private enterTunnel(): void {
    this.tunnel = true;
    this.exchange = null;
    const pending = this.clientPending;
    this.clientPending = null;
    if (pending) this.toUpstream(pending);
    this.clientGate.remove(WAITING);
  }
}
