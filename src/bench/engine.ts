// The load generator's hot loop: C connections over raw sockets, each writing prepared request
// bytes and parsing responses from one reused read buffer. Nothing here allocates per request.

import { isIPv6 } from 'node:net';
import { ResponseParser } from '../http/response-parser.ts';
import { Recorder } from './recorder.ts';
import { openTransport, type Transport, type TransportEvents, type TransportOptions } from './transport.ts';
import type { Target } from './target.ts';

export interface EngineConfig {
  target: Target;
  /** Skip TLS certificate checks (self-signed test servers). */
  insecure?: boolean;
  /** One request, as bytes; written as is for every request. */
  request: Uint8Array;
  /** The request method is HEAD: responses have no body. */
  head?: boolean;
  connections: number;
  /** Requests in flight per connection (1: no pipelining). */
  pipelining?: number;
  /** false: a new connection for every request (the request says Connection: close). */
  keepAlive: boolean;
  /** Exactly this many requests are sent (after warm-up); each ends as a response or an error. A failed connect sends none. */
  requests?: number;
  durationMs?: number;
  /** Open model: requests per second on a fixed schedule, latency measured from the scheduled time. */
  ratePerSec?: number;
  /** Time allowed for a response, from the moment its request was written. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Run this long first without recording anything; -n counts only the requests after it. */
  warmupMs?: number;
  /** Called once a second with the recorder, after the timeline's second was closed. */
  onSecond?: (rec: Recorder, elapsedS: number) => void;
  /** Called when warm-up ends and the measured part begins (only with a warm-up), with measuredFromMs. */
  onMeasuring?: (atMs: number) => void;
}

const READ_BUFFER_BYTES = 64 * 1024;
/** Reconnects after failed connects on one connection wait 10 ms, 20 ms, … up to 1 s: a dead server is not flooded with SYNs. */
const CONNECT_BACKOFF_FIRST_MS = 10;
const CONNECT_BACKOFF_MAX_MS = 1000;

export class Engine {
  readonly rec = new Recorder();
  readonly config: EngineConfig;
  private readonly conns: Connection[] = [];
  /** Connections that send their next request (on a new connection, in close mode) at the end of this turn of the event loop. */
  private readonly later: Connection[] = [];
  private readonly sendLater = (): void => {
    const list = this.later;
    // Each takes its own time: latency starts when its request is written.
    for (let i = 0; i < list.length; i++) list[i]!.next();
    list.length = 0;
  };
  private issued = 0;
  private settled = 0;
  private limit: number;
  private deadline = Infinity;
  private measuredFrom = 0;
  stopping = false;
  private ticker: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private warmupTimer: NodeJS.Timeout | undefined;
  private resolveDone: (() => void) | undefined;
  /** Wall time, ms, of the measured part (after warm-up) once the run ends. */
  elapsedMs = 0;
  /** A -n run stopped before its count: every connect failed for the connect timeout in a row. */
  gaveUp = false;
  /** When the current streak of failed connects began, with no connect succeeding since (0: none). */
  connectFailingSince = 0;

  constructor(config: EngineConfig) {
    this.config = config;
    // Warm-up is not limited by -n: the limit applies from the end of warm-up.
    this.limit = config.warmupMs ? Infinity : (config.requests ?? Infinity);
  }

  run(): Promise<void> {
    const cfg = this.config;
    const now = performance.now();
    const warmup = cfg.warmupMs ?? 0;
    this.measuredFrom = now + warmup;
    if (cfg.durationMs !== undefined) this.deadline = now + warmup + cfg.durationMs;
    if (warmup > 0) {
      this.rec.recording = false;
      this.warmupTimer = setTimeout(() => {
        this.rec.reset();
        this.rec.recording = true;
        this.startTicker();
        // -n counts only measured requests. Warm-up requests still in flight are answered later and
        // counted nowhere (each connection knows how many of its oldest are warm-up's).
        let carried = 0;
        for (const c of this.conns) if (c.endWarmup()) carried++;
        this.rec.connectionsFromWarmup = carried;
        this.issued = 0;
        this.settled = 0;
        this.limit = cfg.requests ?? Infinity;
        cfg.onMeasuring?.(this.measuredFromMs);
      }, warmup);
    } else {
      this.startTicker();
    }
    const done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    const rate = cfg.ratePerSec;
    for (let i = 0; i < cfg.connections; i++) {
      const firstDue = rate ? now + (i * 1000) / rate : 0;
      const c = new Connection(this, i, firstDue, rate ? (cfg.connections * 1000) / rate : 0);
      this.conns.push(c);
    }
    for (const c of this.conns) c.next();
    this.sweeper = setInterval(() => this.sweep(), 50);
    if (cfg.durationMs !== undefined) setTimeout(() => this.stop(), this.deadline - now).unref();
    if (this.limit === 0) this.stop();
    return done;
  }

  /** When the measured part (after warm-up) began, ms since the epoch: comparable across threads. */
  get measuredFromMs(): number {
    return performance.timeOrigin + this.measuredFrom;
  }

  private startTicker(): void {
    const start = performance.now();
    let n = 0;
    this.ticker = setInterval(() => {
      n++;
      this.rec.tick(n);
      this.config.onSecond?.(this.rec, (performance.now() - start) / 1000);
    }, 1000);
  }

  /** Take a ticket for one more request at time `now`, if the run allows it. */
  take(now: number): boolean {
    if (this.stopping || this.issued >= this.limit) return false;
    if (now >= this.deadline) {
      this.stop();
      return false;
    }
    this.issued++;
    return true;
  }

  /**
   * c sends its next request once this turn of the event loop has handled every response that
   * arrived with it. Requests (and, in close mode, SYNs) then reach the server back to back: a
   * server asleep is woken once for all of them instead of once each, and it finds them together.
   * Fewer wake-ups cost less CPU per request on both sides (bench/http.ts measures it side by side
   * with wrk). Each connection still has one request at a time; its latency starts when it is
   * written.
   */
  nextLater(c: Connection): void {
    if (this.later.push(c) === 1) setImmediate(this.sendLater);
  }

  /** n requests ended (response or error). */
  settle(n: number): void {
    this.settled += n;
    if (this.settled >= this.limit && this.limit !== Infinity) this.stop();
  }

  /**
   * A connect attempt failed, with n requests waiting for it: they were never sent, so their tickets
   * go back and they are not counted. The attempt is counted apart, by code, with the errors.
   */
  connectFailed(code: string, message: string, n: number): void {
    this.issued -= n;
    this.rec.connectFailed(code, message);
    // Without a deadline (-n), a target that stays unreachable (or no local port) would keep the run going forever.
    if (this.config.durationMs !== undefined || this.stopping) return;
    const now = performance.now();
    if (this.connectFailingSince === 0) {
      this.connectFailingSince = now;
    } else if (now - this.connectFailingSince > (this.config.connectTimeoutMs ?? 5000)) {
      this.gaveUp = true;
      this.stop();
    }
  }

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.elapsedMs = Math.max(0, performance.now() - this.measuredFrom);
    clearInterval(this.ticker);
    clearInterval(this.sweeper);
    clearTimeout(this.warmupTimer);
    // The last, partial second of the timeline, unless it is too short to say anything per second
    // (its requests still count in the totals).
    if (this.rec.recording) {
      const partial = this.elapsedMs / 1000 - this.rec.timeline.length;
      if (partial >= 0.5 || this.rec.timeline.length === 0) this.rec.tick(this.rec.timeline.length + 1);
      this.rec.flush();
    }
    this.rec.recording = false;
    // Close politely (FIN, after any response still on its way), so the end of a run adds no
    // resets of its own to the kernel's counters; whatever lingers is destroyed after a second.
    let open = 0;
    const closed = () => {
      if (--open === 0) finish();
    };
    const finish = () => {
      clearTimeout(force);
      for (const c of this.conns) c.destroy();
      this.resolveDone?.();
      this.resolveDone = undefined;
    };
    const force = setTimeout(finish, 1000);
    for (const c of this.conns) {
      if (c.closeGracefully(closed)) open++;
    }
    if (open === 0) finish();
  }

  private sweep(): void {
    const now = performance.now();
    const t = this.config.timeoutMs ?? 10_000;
    const ct = this.config.connectTimeoutMs ?? t;
    for (const c of this.conns) c.checkTimeouts(now, t, ct);
  }
}

class Connection implements TransportEvents {
  private readonly engine: Engine;
  private readonly cfg: EngineConfig;
  private readonly parser: ResponseParser;
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private transport: Transport | undefined;
  // Ring of in-flight requests: when each one's latency starts, and when it was written.
  private readonly starts: Float64Array;
  private readonly sentAt: Float64Array;
  private head = 0;
  private inflight = 0;
  /** The oldest this many in flight were sent during warm-up: their answers are neither recorded nor counted. */
  private warm = 0;
  private connecting = false;
  /** TCP of the current transport is connected (a failure before that is a failed connect, not a failed request). */
  private tcpUp = false;
  /** Failed connects in a row on this connection: how long to wait before the next attempt. */
  private connectFailures = 0;
  private connectStartedAt = 0;
  private tcpConnectedAt = 0;
  /** No more requests on this connection: it closes once the last response is in. */
  private draining = false;
  /** The run is over: FIN once the last response in flight has arrived, then report closed. */
  private closingDone: (() => void) | undefined;
  private due: number;
  private readonly interval: number;
  private waitTimer: NodeJS.Timeout | undefined;
  private readonly depth: number;
  /** The same for every connection this slot opens: built once. */
  private readonly transportOptions: TransportOptions;
  private readonly nextCb = (): void => {
    this.waitTimer = undefined;
    this.next();
  };

  constructor(engine: Engine, _index: number, firstDue: number, interval: number) {
    this.engine = engine;
    this.cfg = engine.config;
    this.depth = Math.max(1, this.cfg.pipelining ?? 1);
    this.starts = new Float64Array(this.depth);
    this.sentAt = new Float64Array(this.depth);
    this.due = firstDue;
    this.interval = interval;
    this.parser = new ResponseParser((status, keepAlive) => this.onResponse(status, keepAlive));
    this.parser.head = Boolean(this.cfg.head);
    const t = this.cfg.target;
    this.transportOptions = {
      host: t.host,
      port: t.port,
      tls: t.tls ? { servername: t.servername, rejectUnauthorized: !this.cfg.insecure } : undefined,
      noDelay: this.depth > 1,
      buffer: this.buf,
      ipv6: isIPv6(t.host),
    };
  }

  /**
   * Send what this connection may send now: open a connection if needed, fill the pipeline.
   * One clock read serves everything sent in one call (it costs more than the rest of sending).
   */
  next(): void {
    const engine = this.engine;
    let now = 0;
    while (!engine.stopping && !this.draining && this.inflight < this.depth) {
      let start = 0;
      if (this.interval > 0) {
        now = performance.now();
        if (now < this.due) {
          this.waitTimer ??= setTimeout(this.nextCb, this.due - now);
          return;
        }
        start = this.due;
      } else if (now === 0) {
        now = performance.now();
      }
      if (!engine.take(now)) return;
      if (this.interval > 0) this.due += this.interval;
      if (!this.transport) this.open(now);
      this.send(start || now, now);
      if (this.interval > 0) return; // open model: one at a time, on schedule
    }
  }

  private open(now: number): void {
    this.connecting = true;
    this.tcpUp = false;
    this.connectStartedAt = now;
    this.draining = false;
    this.parser.reset();
    this.transport = openTransport(this.transportOptions, this);
  }

  private send(start: number, now: number): void {
    const slot = (this.head + this.inflight) % this.depth;
    this.starts[slot] = start;
    this.sentAt[slot] = now;
    this.inflight++;
    // Written before the connection is up, the request waits in the transport and leaves from the
    // connect callback: no extra round trip.
    this.transport!.write(this.cfg.request);
    if (!this.cfg.keepAlive) this.draining = true;
  }

  onConnect(): void {
    this.tcpConnectedAt = performance.now();
    this.tcpUp = true;
    this.connectFailures = 0;
    this.engine.connectFailingSince = 0;
    if (!this.cfg.target.tls) {
      this.connecting = false;
      this.engine.rec.connected(this.tcpConnectedAt - this.connectStartedAt, undefined);
    }
  }

  onSecure(): void {
    const now = performance.now();
    this.connecting = false;
    this.engine.rec.connected(this.tcpConnectedAt - this.connectStartedAt, now - this.tcpConnectedAt);
  }

  onData(b: Buffer, n: number): void {
    this.engine.rec.bytesRead += n;
    if (!this.parser.execute(b, 0, n)) {
      this.fail(
        'parse',
        this.inflight === 0
          ? `bytes with no request outstanding (more than the last response's framing said): ${this.parser.error}`
          : `bad response: ${this.parser.error}`,
      );
    }
  }

  private onResponse(status: number, keepAlive: boolean): void {
    if (this.inflight === 0) {
      // A response nobody asked for: the stream is out of step.
      this.fail('parse', 'a response arrived with no request outstanding');
      return;
    }
    const start = this.starts[this.head]!;
    this.head = (this.head + 1) % this.depth;
    this.inflight--;
    const engine = this.engine;
    const measured = this.warm === 0;
    if (measured) engine.rec.response(status, performance.now() - start);
    else this.warm--;
    if (this.closingDone) {
      if (this.inflight === 0) this.transport?.end();
      return;
    }
    if (!keepAlive || !this.cfg.keepAlive) this.draining = true;
    if (measured) engine.settle(1);
    if (this.draining) {
      if (this.inflight === 0) this.replace();
    } else {
      engine.nextLater(this);
    }
  }

  /** Close this connection; the next one opens at the end of this turn of the event loop (nextLater). */
  private replace(): void {
    const old = this.transport;
    this.transport = undefined;
    this.draining = false;
    this.connecting = false;
    // Whatever else this read holds belongs to the closed stream: the parser stops there.
    this.parser.reset();
    this.engine.nextLater(this);
    // Gracefully: the server may still send (a TLS close_notify after its last response), and a
    // socket closed at once would answer that with a reset.
    old?.retire();
  }

  private drop(): void {
    const t = this.transport;
    this.transport = undefined;
    this.draining = false;
    this.connecting = false;
    t?.destroy();
    if (this.closingDone) {
      const done = this.closingDone;
      this.closingDone = undefined;
      done();
    }
  }

  /** Every request in flight on this connection ends as an error of this code; the connection is replaced. */
  private fail(code: string, message: string): void {
    if (this.transport && !this.tcpUp) {
      this.connectFailed(code, message);
      return;
    }
    const measured = this.inflight - this.warm;
    // Bytes no request asked for (the server sent more than its framing said): the stream is out of
    // step, and though no request fails with it, it must show.
    if (this.inflight === 0 && code === 'parse') this.engine.rec.unrequested(code, message);
    this.engine.rec.error(code, message, measured);
    this.engine.settle(measured);
    this.warm = 0;
    this.inflight = 0;
    this.head = 0;
    this.drop();
    // Let the event loop breathe between failures (a refused port fails at once, forever).
    if (!this.engine.stopping) setImmediate(this.nextCb);
  }

  /** The requests waiting for this connect were not sent; try again after a pause that doubles with each failure in a row. */
  private connectFailed(code: string, message: string): void {
    const n = this.inflight - this.warm;
    this.warm = 0;
    this.inflight = 0;
    this.head = 0;
    this.drop();
    this.engine.connectFailed(code, message, n);
    if (this.engine.stopping) return;
    const delay = Math.min(CONNECT_BACKOFF_MAX_MS, CONNECT_BACKOFF_FIRST_MS * 2 ** this.connectFailures);
    this.connectFailures++;
    clearTimeout(this.waitTimer);
    this.waitTimer = setTimeout(this.nextCb, delay);
  }

  onError(code: string, message: string): void {
    this.fail(code, message);
  }

  /** Warm-up is over: what is in flight now is warm-up's. Returns whether a connection is open, to carry on into the measured part. */
  endWarmup(): boolean {
    this.warm = this.inflight;
    return this.transport !== undefined && this.tcpUp;
  }

  onEnd(): void {
    // The server closed its side. A body that runs to the end of the stream is complete now.
    if (!this.parser.finish()) {
      this.fail('parse', `bad response: ${this.parser.error}`);
    } else if (this.inflight > 0) {
      this.fail('closed', 'the server closed the connection before answering every request on it');
    } else {
      this.drop();
      if (!this.engine.stopping) this.next();
    }
  }

  checkTimeouts(now: number, timeoutMs: number, connectTimeoutMs: number): void {
    if (!this.transport || this.closingDone) return;
    if (this.connecting && now - this.connectStartedAt > connectTimeoutMs) {
      this.fail('connect-timeout', `no connection within ${connectTimeoutMs} ms`);
    } else if (this.inflight > 0 && now - this.sentAt[this.head]! > timeoutMs) {
      this.fail('timeout', `no complete response within ${timeoutMs} ms`);
    }
  }

  /**
   * End this connection once nothing is in flight on it (FIN, then wait for the server's); calls
   * done when it is closed. Returns false when there was nothing to close.
   */
  closeGracefully(done: () => void): boolean {
    clearTimeout(this.waitTimer);
    if (!this.transport) return false;
    this.closingDone = done;
    if (this.inflight === 0 || this.connecting) this.transport.end();
    return true;
  }

  destroy(): void {
    clearTimeout(this.waitTimer);
    this.closingDone = undefined;
    this.drop();
  }
}
