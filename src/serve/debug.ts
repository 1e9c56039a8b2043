// pprof-like debug endpoints mountable on any node:http(s) server, like Go's net/http/pprof:
// connections by state, event-loop delay, active handles, CPU profile, heap snapshot, pools, metrics.

import { isLoopbackAddress } from '../text/loopback.ts';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Session } from 'node:inspector/promises';
import { getHeapSnapshot } from 'node:v8';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../errors.ts';
import { renderJson } from '../text/json.ts';
import { observerOf, type ConnectionObserver } from './conn-state.ts';
import type { PoolStats } from '../model/pool-stats.ts';
import {
  createServerMetrics,
  eventLoopDelayWindows,
  type EventLoopDelayWindows,
  type ServerMetrics,
} from './metrics.ts';

export interface DebugRoutesOptions {
  /** Default: the observer attached to the request's server with observeConnections(). */
  observer?: ConnectionObserver;
  /** Where the debug endpoints live. Default `/debug`. */
  prefix?: string;
  /** Where the Prometheus text is served. Default `/metrics`. */
  metricsPath?: string;
  /** Serve clients that are not on loopback. Default false: they get 403. */
  allowRemote?: boolean;
  /** Client pools (createPool's stats() by name), shown at `<prefix>/pools` and in the metrics. */
  pools?: () => Record<string, PoolStats>;
  /** Serve these metrics rather than a registry made per server on the first scrape. */
  metrics?: ServerMetrics;
}

/** A request handler: true when the request was one of ours (answered or being answered). */
export interface DebugRoutes {
  (req: IncomingMessage, res: ServerResponse): boolean;
  /** Stop the event-loop monitor, cancel running profiles, close the metrics made here. */
  close(): void;
}

export const PROFILE_DEFAULT_SECONDS = 5;
export const PROFILE_MAX_SECONDS = 60;

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  server: HttpServer | undefined;
  head: boolean;
}

interface Endpoint {
  description: string;
  handle(ctx: Context): void | Promise<void>;
}

function sendJson(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}): void {
  const body = renderJson(data);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body); // Node drops the body of an answer to HEAD
}

function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

function isLocalClient(socket: Socket, server: HttpServer | undefined): boolean {
  if (socket.remoteAddress) return isLoopbackAddress(socket.remoteAddress);
  // No remote address: a Unix socket (local by nature) or a socket already gone (refuse).
  return typeof server?.address() === 'string';
}

/** `seconds` of /profile: a number in (0, 60], 5 when absent. Fractions are allowed (tests use them). */
export function parseProfileSeconds(raw: string | null): number {
  if (raw === null) return PROFILE_DEFAULT_SECONDS;
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(n > 0 && n <= PROFILE_MAX_SECONDS)) {
    throw new UsageError(
      `seconds must be a number greater than 0 and at most ${PROFILE_MAX_SECONDS} (got ${JSON.stringify(raw)})`,
    );
  }
  return n;
}

/** Headers of a JSON download named for this process and now, e.g. tcplens-4242-20261126T103000Z.cpuprofile. */
function attachmentHeaders(extension: string): Record<string, string> {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return {
    'content-type': 'application/json; charset=utf-8',
    'content-disposition': `attachment; filename="tcplens-${process.pid}-${stamp}.${extension}"`,
    'cache-control': 'no-store',
  };
}

function roundMs(ns: number): number {
  return Math.round(ns / 1e3) / 1e3;
}

function normalizePath(path: string): string {
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.length > 1 ? withSlash.replace(/\/+$/, '') : withSlash;
}

export function debugRoutes(options: DebugRoutesOptions = {}): DebugRoutes {
  const prefix = normalizePath(options.prefix ?? '/debug');
  const metricsPath = normalizePath(options.metricsPath ?? '/metrics');
  const allowRemote = options.allowRemote ?? false;
  const closing = new AbortController();

  // Started on first use, not on mount, so that an unused mount costs nothing.
  let loop: { delay: EventLoopDelayWindows; elu: EventLoopUtilization; sinceMs: number } | undefined;
  let profiling = false;
  let snapshotting = false;
  // One registry per observed server, made on its first scrape; the observer is the natural key.
  const ownMetrics = new WeakMap<object, ServerMetrics>();
  const madeMetrics = new Set<ServerMetrics>();
  const noServer = {};

  const observerFor = (server: HttpServer | undefined) => options.observer ?? (server ? observerOf(server) : undefined);

  const metricsFor = (server: HttpServer | undefined): ServerMetrics => {
    if (options.metrics) return options.metrics;
    const observer = observerFor(server);
    const key = observer ?? server ?? noServer;
    let m = ownMetrics.get(key);
    if (!m) {
      m = createServerMetrics({
        ...(observer ? { observer } : {}),
        ...(options.pools ? { pools: options.pools } : {}),
      });
      ownMetrics.set(key, m);
      madeMetrics.add(m);
    }
    return m;
  };

  const endpoints = new Map<string, Endpoint>();

  endpoints.set('conns', {
    description: 'connections by state (new, active, idle, hijacked; closed since start) and each open one',
    handle({ res, server }) {
      const observer = observerFor(server);
      if (!observer) {
        sendError(
          res,
          503,
          'no connection observer on this server: call observeConnections(server) before listen(), or pass observer to debugRoutes()',
        );
        return;
      }
      sendJson(res, 200, { byState: observer.counts(), connections: observer.connections() });
    },
  });

  endpoints.set('eventloop', {
    description: 'event-loop delay percentiles (ms) and utilization since the previous call',
    handle({ res }) {
      if (!loop)
        loop = { delay: eventLoopDelayWindows(), elu: performance.eventLoopUtilization(), sinceMs: performance.now() };
      const d = loop.delay.take();
      const elu = performance.eventLoopUtilization();
      const used = performance.eventLoopUtilization(elu, loop.elu);
      const body = {
        windowMs: Math.round(performance.now() - loop.sinceMs),
        samples: d.samples,
        delayMs: {
          p50: roundMs(d.p50Ns),
          p90: roundMs(d.p90Ns),
          p99: roundMs(d.p99Ns),
          max: roundMs(d.maxNs),
          mean: roundMs(d.meanNs),
        },
        utilization: {
          ratio: Number.isFinite(used.utilization) ? Math.round(used.utilization * 1e4) / 1e4 : 0,
          activeMs: Math.round(used.active),
          idleMs: Math.round(used.idle),
        },
      };
      loop.elu = elu;
      loop.sinceMs = performance.now();
      sendJson(res, 200, body);
    },
  });

  endpoints.set('handles', {
    description: 'active handles and requests keeping the process alive, counted by type',
    handle({ res }) {
      const resources = process.getActiveResourcesInfo();
      const counts = new Map<string, number>();
      for (const name of resources) counts.set(name, (counts.get(name) ?? 0) + 1);
      const byType = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
      sendJson(res, 200, { total: resources.length, byType });
    },
  });

  endpoints.set('profile', {
    description: `CPU profile (.cpuprofile) over ?seconds=N (default ${PROFILE_DEFAULT_SECONDS}, at most ${PROFILE_MAX_SECONDS})`,
    async handle({ res, url, head }) {
      const seconds = parseProfileSeconds(url.searchParams.get('seconds'));
      const headers = attachmentHeaders('cpuprofile');
      if (head) {
        res.writeHead(200, headers).end();
        return;
      }
      if (profiling) {
        sendError(res, 409, 'a CPU profile is already being taken; try again when it is done');
        return;
      }
      profiling = true;
      // A client that gives up, or close(), ends the profile early rather than after N seconds.
      const gone = new AbortController();
      const onClose = () => gone.abort();
      res.once('close', onClose);
      const session = new Session();
      try {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        await sleep(seconds * 1000, undefined, { signal: AbortSignal.any([gone.signal, closing.signal]) }).catch(
          () => {},
        );
        const { profile } = await session.post('Profiler.stop');
        if (gone.signal.aborted) return;
        if (closing.signal.aborted) {
          sendError(res, 503, 'debug routes closed while profiling');
          return;
        }
        const body = JSON.stringify(profile);
        res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      } finally {
        res.off('close', onClose);
        session.disconnect();
        profiling = false;
      }
    },
  });

  endpoints.set('heap', {
    description: 'V8 heap snapshot (.heapsnapshot); pauses the process and needs memory about the heap size',
    async handle({ res, head }) {
      const headers = attachmentHeaders('heapsnapshot');
      if (head) {
        res.writeHead(200, headers).end();
        return;
      }
      // Two at once would double a memory cost that is already the size of the heap.
      if (snapshotting) {
        sendError(res, 409, 'a heap snapshot is already being taken; try again when it is done');
        return;
      }
      snapshotting = true;
      try {
        const snapshot = getHeapSnapshot();
        res.writeHead(200, headers);
        await pipeline(snapshot, res);
      } finally {
        snapshotting = false;
      }
    },
  });

  if (options.pools) {
    const pools = options.pools;
    endpoints.set('pools', {
      description: 'connection pool statistics',
      handle({ res }) {
        sendJson(res, 200, pools());
      },
    });
  }

  const index = (): unknown => ({
    endpoints: [
      ...[...endpoints].map(([name, e]) => ({ path: `${prefix}/${name}`, description: e.description })),
      { path: metricsPath, description: 'Prometheus metrics (text exposition format)' },
    ],
  });

  const serveMetrics = async ({ res, server }: Context) => {
    const metrics = metricsFor(server);
    const body = await metrics.metrics();
    res.writeHead(200, {
      'content-type': metrics.contentType,
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    });
    res.end(body);
  };

  const dispatch = async (ctx: Context, route: Endpoint['handle']) => {
    try {
      await route(ctx);
    } catch (err) {
      const usage = err instanceof UsageError;
      if (!ctx.res.headersSent) {
        sendError(ctx.res, usage ? 400 : 500, err instanceof Error ? err.message : String(err));
      } else {
        // Half a snapshot is worse than none: cut the connection so the client sees the failure.
        ctx.res.destroy(err instanceof Error ? err : undefined);
      }
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    // An absolute-form target (a proxy request) still has a path; the base only satisfies URL.
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return false;
    }
    const path = normalizePath(url.pathname);
    const isMetrics = path === metricsPath;
    if (!isMetrics && path !== prefix && !path.startsWith(`${prefix}/`)) return false;

    const server = (req.socket as Socket & { server?: HttpServer }).server;
    // Before anything else, so that a remote client learns nothing, not even which paths exist.
    if (!allowRemote && !isLocalClient(req.socket, server)) {
      sendError(res, 403, 'debug endpoints answer loopback clients only (allowRemote is off)');
      return true;
    }
    // A server draining after close() may still route here; nothing of ours should restart.
    if (closing.signal.aborted) {
      sendError(res, 503, 'debug routes are closed');
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, `method ${req.method ?? ''} not allowed: use GET or HEAD`, { allow: 'GET, HEAD' });
      return true;
    }
    const ctx: Context = { req, res, url, server, head: req.method === 'HEAD' };
    if (isMetrics) {
      void dispatch(ctx, serveMetrics);
      return true;
    }
    const name = path.slice(prefix.length + 1);
    if (name === '') {
      sendJson(res, 200, index());
      return true;
    }
    const endpoint = endpoints.get(name);
    if (!endpoint) {
      sendError(res, 404, `no debug endpoint ${path}; see ${prefix} for the list`);
      return true;
    }
    void dispatch(ctx, (c) => endpoint.handle(c));
    return true;
  };

  return Object.assign(handle, {
    close: () => {
      closing.abort();
      loop?.delay.close();
      loop = undefined;
      for (const m of madeMetrics) m.close();
      madeMetrics.clear();
    },
  });
}
