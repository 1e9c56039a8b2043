// Small HTTP servers with known behaviour, on loopback, for the load-generator tests.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface TestServer {
  url: string;
  port: number;
  /** Requests the server has seen. */
  count(): number;
  close(): Promise<void>;
}

async function listening(server: Server): Promise<number> {
  server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 });
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function wrap(server: Server, port: number, count: () => number, sockets: Set<Socket>): TestServer {
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** An HTTP server whose handler decides each response; it counts every request. */
export async function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<TestServer> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    n++;
    req.resume();
    handler(req, res, n);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listening(server);
  return wrap(server, port, () => n, sockets);
}

/** A raw TCP server that answers each connection's data with `onData`. */
export async function rawServer(onData: (socket: Socket, chunk: Buffer) => void): Promise<TestServer> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (chunk) => {
      n++;
      onData(s, chunk);
    });
  });
  const port = await listening(server);
  return wrap(server, port, () => n, sockets);
}

export const hello = (_req: IncomingMessage, res: ServerResponse) => res.end('hello\n');
