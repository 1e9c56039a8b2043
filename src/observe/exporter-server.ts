// The exporter's HTTP server: GET /metrics for Prometheus, a one-line page at /, nothing else.

import { listenOrExplain } from '../http/listen.ts';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SMALL_SERVER_TIMEOUTS } from '../http/small-server-timeouts.ts';
import { createHostMetrics, type HostMetrics, type HostMetricsOptions } from './exporter.ts';
import { bracketHost } from '../text/host-port.ts';

export const DEFAULT_EXPORTER_PORT = 9477;

export interface ExporterOptions extends HostMetricsOptions {
  /** Address to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 picks a free port. Default 9477. */
  port?: number;
}

export interface Exporter {
  /** http://host:port/metrics */
  url: string;
  host: string;
  port: number;
  metrics: HostMetrics;
  close(): Promise<void>;
}

const INDEX = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tcplens exporter</title></head>
<body><h1>tcplens exporter</h1><p>TCP sockets, accept queues, ephemeral ports, kernel counters, sysctls and doctor's findings of this host: <a href="metrics">/metrics</a></p></body></html>
`;

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Start serving; resolves once listening. A busy port or a foreign address is one clear error. */
export async function startExporter(options: ExporterOptions = {}): Promise<Exporter> {
  const host = options.host ?? '127.0.0.1';
  const metrics = createHostMetrics(options);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n', { allow: 'GET, HEAD' });
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      let text: string;
      try {
        text = await metrics.scrape();
      } catch (err) {
        // Prometheus records the failed scrape (up == 0); the body says why for whoever looks.
        return send(
          res,
          500,
          'text/plain; charset=utf-8',
          `tcplens: ${err instanceof Error ? err.message : String(err)}\n`,
        );
      }
      return send(res, 200, metrics.contentType, text);
    }
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', INDEX);
    return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics\n');
  };

  const server = createServer(SMALL_SERVER_TIMEOUTS, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  const port = options.port ?? DEFAULT_EXPORTER_PORT;
  const shown = bracketHost(host);
  let bound: number;
  try {
    bound = await listenOrExplain(server, host, port);
  } catch (err) {
    metrics.close();
    throw err;
  }
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : shown;
  let closed = false;
  return {
    url: `http://${reachable}:${bound}/metrics`,
    host,
    port: bound,
    metrics,
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      metrics.close();
    },
  };
}
