// An observed HTTP server on loopback with the debug routes mounted, and a client that reports
// which local port its request went out on (the observer knows connections by remote port).

import {
  createServer,
  request,
  type Agent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { once } from 'node:events';
import { debugRoutes, type DebugRoutes, type DebugRoutesOptions } from '../../src/serve/debug.ts';
import { observeConnections, type ConnectionObserver } from '../../src/serve/conn-state.ts';

export interface DebugServer {
  port: number;
  server: Server;
  observer: ConnectionObserver;
  routes: DebugRoutes;
  close(): Promise<void>;
}

export async function debugServer(
  opts: { routes?: DebugRoutesOptions; app?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<DebugServer> {
  const server = createServer({ keepAliveTimeout: 30_000 });
  const observer = observeConnections(server);
  const routes = debugRoutes(opts.routes);
  const app = opts.app ?? ((_req: IncomingMessage, res: ServerResponse) => res.end('hello\n'));
  server.on('request', (req, res) => {
    if (!routes(req, res)) app(req, res);
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    server,
    observer,
    routes,
    close: async () => {
      routes.close();
      observer.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The client side's port, i.e. the connection's remotePort as the server sees it. */
  localPort: number;
}

export function get(port: number, path: string, opts: { agent?: Agent | false; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false },
      (res) => {
        const localPort = res.socket.localPort ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            localPort,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function getJson<T = unknown>(
  port: number,
  path: string,
  opts: { agent?: Agent | false } = {},
): Promise<Reply & { json: T }> {
  return get(port, path, opts).then((r) => ({ ...r, json: JSON.parse(r.body) as T }));
}

/** Wait for a condition the server reaches on its own schedule; fail rather than hang (the bound is generous: a busy machine is slow, not wrong). */
export async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
