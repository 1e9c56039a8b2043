// Test fixtures of the proxy's tests: upstream servers with known behaviour, raw clients that
// record what arrives and when, and a proxy server started on ephemeral ports.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createProxyServer, type ProxyConfig, type ProxyServer } from '../../src/proxy/server.ts';

export interface Upstream {
  port: number;
  address: string;
  /** Server-side sockets, in the order accepted. */
  sockets: Socket[];
  close(): Promise<void>;
}

/** A raw TCP server on loopback; `onSocket` decides what each accepted socket does. */
export async function tcpServer(onSocket: (s: Socket) => void, opts: { allowHalfOpen?: boolean } = {}): Promise<Upstream> {
  const sockets: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Echoes every byte back. */
export const echoServer = () => tcpServer((s) => s.pipe(s));

export async function startProxies(proxies: ProxyConfig[], api: string | false = false): Promise<ProxyServer> {
  return createProxyServer({ api, proxies });
}

export function listenPort(server: ProxyServer, name: string): number {
  return server.proxy(name)!.port;
}

export async function dial(port: number, opts: { allowHalfOpen?: boolean } = {}): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: opts.allowHalfOpen ?? false, noDelay: true });
  await once(s, 'connect');
  return s;
}

export interface Received {
  bytes: Buffer;
  chunks: number;
  /** How the stream ended: 'end' (FIN), or the error code (ECONNRESET), or 'open' if still open at the deadline. */
  how: string;
  /** ms from the start of collect() to the end. */
  elapsedMs: number;
  firstByteMs: number;
}

/** Everything `socket` receives until it ends, errs, or `deadlineMs` passes. */
export function collect(socket: Socket, deadlineMs = 5000): Promise<Received> {
  const start = performance.now();
  const parts: Buffer[] = [];
  let firstByteMs = -1;
  return new Promise((resolve) => {
    let done = false;
    const finish = (how: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(parts), chunks: parts.length, how, elapsedMs: performance.now() - start, firstByteMs });
    };
    const timer = setTimeout(() => finish('open'), deadlineMs);
    socket.on('data', (c: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - start;
      parts.push(c);
    });
    socket.on('end', () => finish('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on('close', () => finish('close'));
  });
}

/** Round trip of `bytes` through an echo: ms until all of it came back. */
export async function roundTrip(socket: Socket, bytes = Buffer.from('ping')): Promise<number> {
  const start = performance.now();
  let got = 0;
  socket.write(bytes);
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= bytes.length) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  return performance.now() - start;
}

/** The fastest of `n` round trips: a delay every trip has shows in it, one that load adds to some does not. */
export async function fastest(socket: Socket, n = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < n; i++) best = Math.min(best, await roundTrip(socket));
  return best;
}

/** Whether an echo behind `socket` answers: true once `ping` came back, false if the socket ends or fails first. */
export function echoes(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    const done = (yes: boolean) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      resolve(yes);
    };
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= 4) done(true);
    };
    const onClose = () => done(false);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.write('ping');
  });
}

/** A port free on loopback a moment ago, for an address that must be given before binding. */
export async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
