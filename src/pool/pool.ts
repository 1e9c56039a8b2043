// A keep-alive client pool on undici that stays clear of the idle-close race, with the stats that
// show contention: connected, free, pending, queued, running, and queue wait.

import { DecoratorHandler, Pool, interceptors, type Dispatcher } from 'undici';
import type { PoolStats } from '../model/pool-stats.ts';
import { newHistogram } from '../text/histogram.ts';

export type { PoolStats } from '../model/pool-stats.ts';

export interface PoolOptions {
  /** Connections at most (default 10). */
  connections?: number;
  /** Requests in flight per connection (default 1). */
  pipelining?: number;
  /**
   * How long an idle connection is kept when the server says nothing (default 4000 ms), and the
   * most it is kept whatever the server says.
   */
  idleTimeoutMs?: number;
  /** Kept this far below the server's advertised Keep-Alive timeout (default 1000 ms). */
  marginMs?: number;
  /** Retries of idempotent requests that met a connection the server had just closed (default 2). */
  retries?: number;
}

export interface TcplensPool {
  /** undici's request(), through the retrying, timed dispatcher. */
  request(
    options: Omit<Dispatcher.RequestOptions, 'origin' | 'method'> & { method?: Dispatcher.HttpMethod },
  ): Promise<Dispatcher.ResponseData>;
  dispatcher: Dispatcher;
  stats(): PoolStats;
  close(): Promise<void>;
}

// Ends the queue wait of one attempt when undici hands it to a connection.
class QueueTimer extends DecoratorHandler {
  private readonly t0 = performance.now();
  private readonly record: (ms: number) => void;
  constructor(handler: Dispatcher.DispatchHandler, record: (ms: number) => void) {
    super(handler);
    this.record = record;
  }
  // Declared here because undici's typings of DecoratorHandler predate its new handler API.
  onRequestStart(controller: unknown, context: unknown): void {
    this.record(performance.now() - this.t0);
    (DecoratorHandler.prototype as unknown as { onRequestStart(c: unknown, x: unknown): void }).onRequestStart.call(
      this,
      controller,
      context,
    );
  }
}

const IDEMPOTENT: Dispatcher.HttpMethod[] = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'];

export function createPool(origin: string | URL, o: PoolOptions = {}): TcplensPool {
  const idle = o.idleTimeoutMs ?? 4000;
  const pool = new Pool(origin, {
    connections: o.connections ?? 10,
    pipelining: o.pipelining ?? 1,
    // undici reads the server's Keep-Alive: timeout=N and keeps a connection N*1000 - threshold
    // ms at most: the client gives up an idle connection before the server closes it.
    keepAliveTimeout: idle,
    keepAliveMaxTimeout: idle,
    keepAliveTimeoutThreshold: o.marginMs ?? 1000,
  });
  const waits = newHistogram();
  let retries = 0;
  const timed: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
    dispatch(opts, new QueueTimer(handler, (ms) => waits.recordValue(Math.max(1, Math.round(ms * 1000)))));
  const dispatcher = pool.compose(
    interceptors.retry({
      maxRetries: o.retries ?? 2,
      methods: IDEMPOTENT,
      // A connection closed under a request: the server's idle close met our reuse. Safe to repeat
      // an idempotent request; a status code is an answer and is never retried here.
      errorCodes: ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNREFUSED'],
      statusCodes: [],
      minTimeout: 0,
      timeoutFactor: 1,
      retry: (err, context, callback) => {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const method = (context.opts as { method?: string }).method ?? 'GET';
        if (
          context.state.counter > (o.retries ?? 2) ||
          !IDEMPOTENT.includes(method as Dispatcher.HttpMethod) ||
          !['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)
        ) {
          callback(err);
          return;
        }
        retries++;
        callback(null);
      },
    }),
    timed,
  );
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    dispatcher,
    request: (options) =>
      dispatcher.request({
        ...options,
        origin: typeof origin === 'string' ? origin : origin.origin,
        method: options.method ?? 'GET',
      }),
    stats: () => {
      const s = pool.stats;
      return {
        connected: s.connected,
        free: s.free,
        pending: s.pending,
        queued: s.queued,
        running: s.running,
        size: s.size,
        queueWaitMs: {
          count: waits.totalCount,
          p50: ms(waits.getValueAtPercentile(50)),
          p90: ms(waits.getValueAtPercentile(90)),
          p99: ms(waits.getValueAtPercentile(99)),
          max: ms(waits.maxValue),
          mean: ms(waits.mean),
        },
        retries,
      };
    },
    close: () => pool.close(),
  };
}
