// Prometheus metrics of the proxies on a registry of their own, read from the proxies' plain
// counters at scrape time: the hot path bumps numbers, never prom-client.

import { Counter, Gauge, Registry } from 'prom-client';
import type { ProxyStats } from './proxy.ts';
import type { ProxyCollection } from './collection.ts';

export interface ProxyMetrics {
  registry: Registry;
  contentType: string;
  text(): Promise<string>;
  close(): void;
}

type Row = [labels: Record<string, string>, value: number];

export function createProxyMetrics(collection: ProxyCollection, prefix = 'tcplens_proxy_'): ProxyMetrics {
  const registry = new Registry();
  // One reading of every proxy's stats serves all the metrics of a scrape.
  let scrape: ProxyStats[] | undefined;
  const stats = () => scrape ?? collection.list().map((p) => p.stats());

  /** A metric whose series are computed from the proxies' stats at each scrape. */
  function define(
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: string[],
    rows: (s: ProxyStats) => Row[],
    fullName = `${prefix}${name}`,
  ): void {
    const config = {
      name: fullName,
      help,
      labelNames,
      registers: [registry],
      collect(this: Counter | Gauge) {
        this.reset();
        for (const s of stats()) for (const [labels, value] of rows(s)) this.inc(labels, value);
      },
    };
    if (kind === 'counter') new Counter(config);
    else new Gauge(config);
  }

  const proxy = (s: ProxyStats) => ({ proxy: s.name });
  const toxic = (s: ProxyStats, affected: (t: ProxyStats['toxics'][number]) => number): Row[] =>
    s.toxics.map((t) => [{ proxy: s.name, toxic: t.name, type: t.type, stream: t.stream }, affected(t)]);

  define('gauge', 'up', 'Whether the proxy is enabled (listening): 1, or down: 0.', ['proxy', 'mode'], (s) => [
    [{ proxy: s.name, mode: s.mode }, s.enabled ? 1 : 0],
  ]);
  define('counter', 'connections_total', 'Client connections accepted.', ['proxy'], (s) => [
    [proxy(s), s.connectionsTotal],
  ]);
  define('gauge', 'connections_active', 'Client connections open now.', ['proxy'], (s) => [
    [proxy(s), s.connectionsActive],
  ]);
  define(
    'gauge',
    'max_connections',
    'Client connections the proxy keeps open at once (max_connections).',
    ['proxy'],
    (s) => [[proxy(s), s.maxConnections]],
  );
  define(
    'counter',
    'connections_rejected_total',
    'Client connections closed at accept because max_connections were open.',
    ['proxy'],
    (s) => [[proxy(s), s.connectionsRejected]],
  );
  define(
    'counter',
    'upstream_failures_total',
    'Client connections closed because the upstream could not be reached (or its TLS handshake failed).',
    ['proxy'],
    (s) => [[proxy(s), s.upstreamFailures]],
  );
  define(
    'counter',
    'tls_handshake_failures_total',
    'Client TLS handshakes with the proxy that failed (listen_tls).',
    ['proxy'],
    (s) => [[proxy(s), s.tlsHandshakeFailures]],
  );
  define('counter', 'requests_total', 'HTTP requests seen (proxies in http mode).', ['proxy'], (s) =>
    s.mode === 'http' ? [[proxy(s), s.requestsTotal]] : [],
  );
  define(
    'counter',
    'received_bytes_total',
    'Bytes read from the client (upstream) or from the upstream (downstream).',
    ['proxy', 'direction'],
    (s) => [
      [{ proxy: s.name, direction: 'upstream' }, s.bytesUpstream],
      [{ proxy: s.name, direction: 'downstream' }, s.bytesDownstream],
    ],
  );
  define(
    'counter',
    'toxic_connections_affected_total',
    'Connections whose toxicity roll picked the toxic (tcp mode).',
    ['proxy', 'toxic', 'type', 'stream'],
    (s) => (s.mode === 'tcp' ? toxic(s, (t) => t.connectionsAffected) : []),
  );
  define(
    'counter',
    'toxic_requests_affected_total',
    'HTTP requests whose toxicity roll picked the toxic (http mode).',
    ['proxy', 'toxic', 'type', 'stream'],
    (s) => (s.mode === 'http' ? toxic(s, (t) => t.requestsAffected) : []),
  );

  // Toxiproxy's own series (its -proxy-metrics), so that dashboards built for it work unchanged.
  const toxiproxyLabels = ['direction', 'listener', 'proxy', 'upstream'];
  const both = (s: ProxyStats, up: number, down: number): Row[] => [
    [{ direction: 'downstream', listener: s.listen, proxy: s.name, upstream: s.upstream }, down],
    [{ direction: 'upstream', listener: s.listen, proxy: s.name, upstream: s.upstream }, up],
  ];
  define(
    'counter',
    '',
    "Bytes read from the client (upstream) or from the upstream (downstream); Toxiproxy's name.",
    toxiproxyLabels,
    (s) => both(s, s.bytesUpstream, s.bytesDownstream),
    'toxiproxy_proxy_received_bytes_total',
  );
  define(
    'counter',
    '',
    "Bytes passed on to the upstream (upstream) or to the client (downstream): received less what toxics dropped; Toxiproxy's name.",
    toxiproxyLabels,
    (s) => both(s, s.bytesUpstream - s.droppedUpstream, s.bytesDownstream - s.droppedDownstream),
    'toxiproxy_proxy_sent_bytes_total',
  );

  return {
    registry,
    contentType: registry.contentType,
    text: async () => {
      scrape = stats();
      try {
        return await registry.metrics();
      } finally {
        scrape = undefined;
      }
    },
    close: () => registry.clear(),
  };
}
