// The handshake metrics of any TLS server: full and resumed handshakes, failures by code, and the
// time from TCP accept to handshake done.

import type { Server as TlsServerBase, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { newHistogram } from '../text/histogram.ts';
import { tcpSocketUnderTls } from '../node-internals.ts';

export interface TlsStats {
  /** Completed handshakes: full + resumed. */
  handshakes: number;
  full: number;
  /** Handshakes that resumed a session (ticket or session id): no certificate, no key exchange signature. */
  resumed: number;
  /** Handshakes that failed, by error code ('tlsClientError'). */
  failures: Record<string, number>;
  /** From TCP accept to handshake done, so a client slow to send its hello counts too. */
  handshakeMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Certificates replaced since start (each SNI host counts on its own). */
  reloads: number;
  /** Changed pairs that were rejected. */
  reloadFailures: number;
  /** ISO time of the last successful reload. */
  lastReloadAt?: string;
}

export interface HandshakeMetrics {
  stats(): TlsStats;
  /** The raw handshake histogram, microseconds, for merging or export. */
  histogram(): Histogram;
  /** Stop counting (what was counted stays readable). */
  close(): void;
}

/** The reload figures TlsStats carries: kept here, counted by the certificate reloader (tls.ts). */
export interface ReloadCounts {
  reloads: number;
  reloadFailures: number;
  lastReloadAt: number | undefined;
}

interface Counters extends ReloadCounts {
  histogram: Histogram;
  full: number;
  resumed: number;
  failures: Map<string, number>;
}

const ACCEPTED_AT = Symbol('tcplens.acceptedAt');
type Accepted = Socket & { [ACCEPTED_AT]?: number };
const registry = new WeakMap<TlsServerBase, { counters: Counters; metrics: HandshakeMetrics }>();

/** Stats of a server measured by measureHandshakes or made by createTlsServer. */
export function tlsStats(server: TlsServerBase): TlsStats | undefined {
  return registry.get(server)?.metrics.stats();
}

/** The reload counts of a measured server, for the reloader to keep up to date. */
export function reloadCountsOf(server: TlsServerBase): ReloadCounts | undefined {
  return registry.get(server)?.counters;
}

/** Error codes are a small fixed set; anything else is folded so that the labels stay bounded. */
function failureReason(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'unknown';
}

const ms = (us: number) => Math.round(us) / 1000;

/** Count and time the handshakes of any node:tls or node:https server. Idempotent. */
export function measureHandshakes(server: TlsServerBase): HandshakeMetrics {
  const existing = registry.get(server);
  if (existing) return existing.metrics;
  const c: Counters = {
    histogram: newHistogram(),
    full: 0,
    resumed: 0,
    failures: new Map(),
    reloads: 0,
    reloadFailures: 0,
    lastReloadAt: undefined,
  };
  const onConnection = (socket: Accepted) => {
    socket[ACCEPTED_AT] = performance.now();
  };
  const onSecure = (tlsSocket: TLSSocket) => {
    if (tlsSocket.isSessionReused()) c.resumed++;
    else c.full++;
    const startedAt = tcpSocketUnderTls<Accepted>(tlsSocket)?.[ACCEPTED_AT];
    if (startedAt !== undefined)
      c.histogram.recordValue(Math.max(1, Math.round((performance.now() - startedAt) * 1000)));
  };
  const onClientError = (err: Error) => {
    const reason = failureReason(err);
    c.failures.set(reason, (c.failures.get(reason) ?? 0) + 1);
  };
  // First in line, so that the TLS server's own 'connection' work is inside the measured time.
  server.prependListener('connection', onConnection);
  server.on('secureConnection', onSecure);
  server.on('tlsClientError', onClientError);

  const metrics: HandshakeMetrics = {
    stats: () => {
      const h = c.histogram;
      const empty = h.totalCount === 0;
      // A percentile is the top of its bucket and can pass the exact maximum by a rounding step.
      const at = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue);
      return {
        handshakes: c.full + c.resumed,
        full: c.full,
        resumed: c.resumed,
        failures: Object.fromEntries(c.failures),
        handshakeMs: {
          p50: empty ? 0 : ms(at(50)),
          p90: empty ? 0 : ms(at(90)),
          p99: empty ? 0 : ms(at(99)),
          max: empty ? 0 : ms(h.maxValue),
          mean: empty ? 0 : ms(h.mean),
        },
        reloads: c.reloads,
        reloadFailures: c.reloadFailures,
        ...(c.lastReloadAt === undefined ? {} : { lastReloadAt: new Date(c.lastReloadAt).toISOString() }),
      };
    },
    histogram: () => c.histogram,
    close: () => {
      server.off('connection', onConnection);
      server.off('secureConnection', onSecure);
      server.off('tlsClientError', onClientError);
    },
  };
  registry.set(server, { counters: c, metrics });
  return metrics;
}
