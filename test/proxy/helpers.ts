// Test fixtures of the proxy's tests: upstream servers with known behaviour, raw clients that
// record what arrives and when, and a proxy server started on ephemeral ports.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createProxyServer, type ProxyConfig, type ProxyServer } from '../../src/proxy/server.ts';

export interface Upstream {
  port: number;
  address: string;
  /** Server-side sockets, in the order accepted. */
  sockets: Socket[];
  close(): Promise<void>;
}

/** A raw TCP server on loopback; `onSocket` decides what each accepted socket does. */
export async function tcpServer(
  onSocket: (s: Socket) => void,
  opts: { allowHalfOpen?: boolean } = {},
): Promise<Upstream> {
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
      resolve({
        bytes: Buffer.concat(parts),
        chunks: parts.length,
        how,
        elapsedMs: performance.now() - start,
        firstByteMs,
      });
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

const TICK_MS = 10;

/**
 * `fn`'s result and how long this process was held up while it ran: in all (stalledMs, the wall
 * time that the ticks of a timer every 10 ms did not cover) and at once (worstMs, the latest tick).
 * Clients, proxy and servers of these tests share this process, so a busy machine slows a round
 * trip by at most stalledMs, whatever a toxic adds, and fires any one timer at most worstMs late.
 */
export async function withStalls<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; ms: number; stalledMs: number; worstMs: number }> {
  const ticks = monitorEventLoopDelay({ resolution: TICK_MS });
  const start = performance.now();
  ticks.enable();
  try {
    const value = await fn();
    const ms = performance.now() - start;
    // A tick still pending at the end is as late as the time since the last one.
    const ticked = ticks.count > 0 ? (ticks.mean / 1e6) * ticks.count : 0;
    const worstMs = Math.max(ticks.count > 0 ? ticks.max / 1e6 - TICK_MS : 0, ms - ticked - TICK_MS);
    return { value, ms, stalledMs: Math.max(0, ms - ticks.count * TICK_MS), worstMs: Math.max(0, worstMs) };
  } finally {
    ticks.disable();
  }
}

export interface Trips {
  /** The fastest round trip as measured: no delay a toxic adds can make it shorter. */
  fastestMs: number;
  /** The fastest trip less the time this process was held up during it: load taken out (more than load added when a stall overlapped a toxic's wait), so an upper bound on it holds on a busy machine. */
  unstalledMs: number;
  trips: { ms: number; stalledMs: number }[];
}

/** `n` round trips on `socket`, each with how long this process was held up during it. */
export async function trips(socket: Socket, n = 3): Promise<Trips> {
  const all: { ms: number; stalledMs: number }[] = [];
  for (let i = 0; i < n; i++) {
    const { value, stalledMs } = await withStalls(() => roundTrip(socket));
    all.push({ ms: value, stalledMs });
  }
  return {
    fastestMs: Math.min(...all.map((t) => t.ms)),
    unstalledMs: Math.min(...all.map((t) => t.ms - t.stalledMs)),
    trips: all,
  };
}

/** For messages: each trip and its stall. */
export const showTrips = (t: Trips) =>
  t.trips.map((x) => `${x.ms.toFixed(1)} (held ${x.stalledMs.toFixed(0)})`).join(', ') + ' ms';

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
