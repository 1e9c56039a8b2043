// The calling service ("storefront"): GET /product/:id asks the inventory service for stock, through
// a keep-alive pool, guarded by an opossum circuit breaker whose fallback answers "stock unknown"
// at once. Without the breaker the call simply waits for the backend, however long it takes.

import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import CircuitBreaker from 'opossum';
import { Pool } from 'undici';

export interface CallerOptions {
  /** Where the inventory service is reached: the proxy's address, or the backend's. */
  inventoryUrl: string;
  /** Guard the call with a circuit breaker and a fallback (default true). */
  breaker?: boolean;
  /** A call slower than this fails and falls back (default 150 ms). */
  timeoutMs?: number;
  /** Error % in the rolling window above which the breaker opens (default 5). */
  errorThresholdPercentage?: number;
  /** How long the breaker stays open before it lets one call try (default 1000 ms). */
  resetTimeoutMs?: number;
  /** Calls in the window before the breaker may open (default 10). */
  volumeThreshold?: number;
}

export interface CallerStats {
  fromBackend: number;
  fallbacks: number;
  timeouts: number;
  /** Calls answered by the fallback without trying, because the breaker was open. */
  shortCircuited: number;
  breakerOpens: number;
  errors: number;
}

export interface Caller {
  url: string;
  stats(): CallerStats;
  close(): Promise<void>;
}

interface Stock {
  id: string;
  stock: number | null;
  source: 'backend' | 'fallback';
}

export async function startCaller(o: CallerOptions): Promise<Caller> {
  const timeoutMs = o.timeoutMs ?? 150;
  const pool = new Pool(o.inventoryUrl, { connections: 64, keepAliveTimeout: 30_000 });
  const stats: CallerStats = {
    fromBackend: 0,
    fallbacks: 0,
    timeouts: 0,
    shortCircuited: 0,
    breakerOpens: 0,
    errors: 0,
  };

  async function fetchStock(id: string, signal?: AbortSignal): Promise<Stock> {
    const res = await pool.request({ path: `/stock/${id}`, method: 'GET', signal });
    const body = (await res.body.json()) as Stock;
    if (res.statusCode >= 500) throw new Error(`inventory answered ${res.statusCode}`);
    return body;
  }

  let getStock: (id: string) => Promise<Stock>;
  if (o.breaker ?? true) {
    // The call is aborted when it times out, so that a slow answer does not hold a pool connection.
    const breaker = new CircuitBreaker((id: string) => fetchStock(id, AbortSignal.timeout(timeoutMs)), {
      timeout: timeoutMs,
      errorThresholdPercentage: o.errorThresholdPercentage ?? 5,
      resetTimeout: o.resetTimeoutMs ?? 1000,
      volumeThreshold: o.volumeThreshold ?? 10,
      rollingCountTimeout: 5000,
      rollingCountBuckets: 10,
    });
    breaker.fallback((id: string): Stock => ({ id, stock: null, source: 'fallback' }));
    breaker.on('open', () => stats.breakerOpens++);
    breaker.on('timeout', () => stats.timeouts++);
    breaker.on('reject', () => stats.shortCircuited++);
    breaker.on('fallback', () => stats.fallbacks++);
    getStock = (id) => breaker.fire(id) as Promise<Stock>;
  } else {
    getStock = (id) => fetchStock(id);
  }

  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const id = /^\/product\/(\w+)/.exec(req.url ?? '')?.[1] ?? 'none';
    getStock(id).then(
      (stock) => {
        if (stock.source === 'backend') stats.fromBackend++;
        const body = JSON.stringify({ product: id, stock: stock.stock, source: stock.source });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      },
      (err: Error) => {
        stats.errors++;
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`inventory failed: ${err.message}\n`);
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await pool.destroy();
    },
  };
}
