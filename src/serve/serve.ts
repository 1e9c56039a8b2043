// The `tcplens serve` server: the app's routes, the debug routes, hardened timeouts, the observer.

import { createServer, type Server as HttpServer } from 'node:http';
import cluster from 'node:cluster';
import { isMainThread, threadId } from 'node:worker_threads';
import { serveApp } from './app.ts';
import { hardenServer, type HardenResult } from './harden.ts';
import { observeConnections } from './conn-state.ts';
import type { TlsServer } from './tls.ts';
import { requestHeadFault } from '../http/head-faults.ts';

export interface ServeSettings {
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxRequestsPerSocket?: number;
  /** Mount /debug/* and /metrics (default true). */
  debug?: boolean;
  /** Let non-loopback clients reach the debug routes. */
  debugRemote?: boolean;
  /** Serve https: a self-signed certificate made at start, or files (reloaded when they change). */
  tls?: { selfSigned: true } | { certFile: string; keyFile: string };
}

export interface ServeServer {
  server: HttpServer;
  hardening: HardenResult;
  /** With TLS: handshake stats and reload. */
  tls?: TlsServer;
}

/** Build the serve server, not yet listening. */
export async function createServeServer(s: ServeSettings = {}): Promise<ServeServer> {
  let server: HttpServer;
  let tls: TlsServer | undefined;
  if (s.tls) {
    const { createTlsServer } = await import('./tls.ts');
    tls = await createTlsServer(
      'selfSigned' in s.tls ? { selfSigned: true } : { certFile: s.tls.certFile, keyFile: s.tls.keyFile },
    );
    server = tls.server as unknown as HttpServer;
  } else {
    server = createServer();
  }
  const hardening = hardenServer(server, {
    headersTimeoutMs: s.headersTimeoutMs,
    requestTimeoutMs: s.requestTimeoutMs,
    keepAliveTimeoutMs: s.keepAliveTimeoutMs,
    maxRequestsPerSocket: s.maxRequestsPerSocket,
  });
  observeConnections(server);
  let debug: ((req: Parameters<typeof serveApp>[0], res: Parameters<typeof serveApp>[1]) => boolean) | undefined;
  if (s.debug !== false) {
    const { debugRoutes } = await import('./debug.ts');
    debug = debugRoutes({ allowRemote: s.debugRemote });
  }
  // Which worker answered: lets a client see that SO_REUSEPORT spreads its connections.
  const worker = !isMainThread ? `thread ${threadId}` : cluster.isWorker ? `pid ${process.pid}` : undefined;
  server.on('request', (req, res) => {
    if (worker) res.setHeader('x-tcplens-worker', worker);
    const fault = requestHeadFault(req.rawHeaders);
    if (fault) {
      const body = `bad request: ${fault}\n`;
      res.writeHead(400, { 'content-type': 'text/plain', 'content-length': body.length, connection: 'close' });
      res.end(body);
      return;
    }
    if (debug?.(req, res)) return;
    if (serveApp(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /, /delay/:ms, /bytes/:n, /status/:code, /close, /reset, /stall, /debug\n');
  });
  return { server, hardening, tls };
}

/** The module startWorkers loads in each worker. */
export default async function (settings: ServeSettings): Promise<HttpServer> {
  return (await createServeServer(settings)).server;
}
