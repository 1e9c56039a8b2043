// A connection-state observer for node:http(s) servers, like Go's http.Server.ConnState: each
// connection is new, active, idle, hijacked or closed, with its age, requests and bytes.

import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type ConnState = 'new' | 'active' | 'idle' | 'hijacked' | 'closed';

export interface ConnectionInfo {
  id: number;
  remoteAddress: string;
  remotePort: number;
  state: ConnState;
  /** Since the TCP connection was accepted. */
  ageMs: number;
  /** Since it entered its current state. */
  inStateMs: number;
  /** Requests received on it. */
  requests: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface StateCounts {
  new: number;
  active: number;
  idle: number;
  hijacked: number;
  /** Connections closed since the observer started. */
  closed: number;
}

export type StateChangeHook = (conn: ConnectionInfo, from: ConnState | undefined) => void;

export interface ConnectionObserver {
  counts(): StateCounts;
  connections(): ConnectionInfo[];
  /** Requests seen since the observer started. */
  requestsTotal(): number;
  /** Add a hook; returns a function that removes it. */
  onStateChange(hook: StateChangeHook): () => void;
  /** Stop observing (connections already seen are forgotten). */
  close(): void;
}

export interface ObserveOptions {
  onStateChange?: StateChangeHook;
}

interface Record {
  id: number;
  socket: Socket;
  /** Read at accept: a closed socket no longer knows its peer. */
  remoteAddress: string;
  remotePort: number;
  state: ConnState;
  createdAt: number;
  stateSince: number;
  requests: number;
  /** Requests received and not yet answered (pipelining can make it more than one). */
  inFlight: number;
}

const RECORD = Symbol('tcplens.connection');
const INDEX = { new: 0, active: 1, idle: 2, hijacked: 3 } as const;
const registry = new WeakMap<HttpServer, ConnectionObserver>();

/** The observer already attached to this server, if any (used by gracefulShutdown and debugRoutes). */
export function observerOf(server: HttpServer): ConnectionObserver | undefined {
  return registry.get(server);
}

export function observeConnections(server: HttpServer, options: ObserveOptions = {}): ConnectionObserver {
  const existing = registry.get(server);
  if (existing) {
    if (options.onStateChange) existing.onStateChange(options.onStateChange);
    return existing;
  }
  const live = new Set<Record>();
  const hooks = new Set<StateChangeHook>();
  if (options.onStateChange) hooks.add(options.onStateChange);
  let nextId = 1;
  let closed = 0;
  let requests = 0;
  // Indexed by state number: one typed-array slot update per transition on the request path.
  const counts = new Int32Array(4);

  const info = (r: Record, now = performance.now()): ConnectionInfo => ({
    id: r.id,
    remoteAddress: r.remoteAddress,
    remotePort: r.remotePort,
    state: r.state,
    ageMs: Math.round(now - r.createdAt),
    inStateMs: Math.round(now - r.stateSince),
    requests: r.requests,
    bytesRead: r.socket.bytesRead,
    bytesWritten: r.socket.bytesWritten,
  });

  const move = (r: Record, to: ConnState) => {
    const from = r.state;
    if (from === to) return;
    if (from !== 'closed') counts[INDEX[from]]!--;
    if (to !== 'closed') counts[INDEX[to]]!++;
    r.state = to;
    r.stateSince = performance.now();
    if (hooks.size) for (const h of hooks) h(info(r), from);
  };

  // Handlers are shared; `this` leads to the record, so no closure is made per request.
  function onSocketClose(this: Socket): void {
    const r = (this as Socket & { [RECORD]?: Record })[RECORD];
    if (!r || r.state === 'closed') return;
    live.delete(r);
    closed++;
    move(r, 'closed');
  }
  function onFinish(this: ServerResponse): void {
    // By 'finish' the response has let go of its socket: the record rides on the response itself.
    const r = (this as ServerResponse & { [RECORD]?: Record })[RECORD];
    if (!r || r.state === 'closed' || r.state === 'hijacked') return;
    if (--r.inFlight <= 0) {
      r.inFlight = 0;
      move(r, 'idle');
    }
  }
  const onConnection = (socket: Socket) => {
    const now = performance.now();
    const r: Record = {
      id: nextId++,
      socket,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      state: 'new',
      createdAt: now,
      stateSince: now,
      requests: 0,
      inFlight: 0,
    };
    (socket as Socket & { [RECORD]?: Record })[RECORD] = r;
    live.add(r);
    counts[0]!++;
    socket.once('close', onSocketClose);
    if (hooks.size) for (const h of hooks) h(info(r), undefined);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const r = (req.socket as Socket & { [RECORD]?: Record })[RECORD];
    if (!r) return;
    r.requests++;
    r.inFlight++;
    move(r, 'active');
    (res as ServerResponse & { [RECORD]?: Record })[RECORD] = r;
    // on, not once: a response finishes once, and once() would wrap the handler per request.
    res.on('finish', onFinish);
  };
  const onUpgrade = (req: IncomingMessage) => {
    const r = (req.socket as Socket & { [RECORD]?: Record })[RECORD];
    if (!r) return;
    r.requests++;
    requests++;
    move(r, 'hijacked');
  };

  server.on('connection', onConnection);
  // HTTPS: the TCP socket is what 'connection' saw; requests arrive on the TLS socket wrapping it.
  // The record stays on the TCP socket too, whose byte counts are what crossed the wire.
  const onSecureConnection = (tlsSocket: Socket) => {
    const raw = (tlsSocket as Socket & { _parent?: Socket })._parent;
    const r = raw ? (raw as Socket & { [RECORD]?: Record })[RECORD] : undefined;
    if (r) (tlsSocket as Socket & { [RECORD]?: Record })[RECORD] = r;
  };
  server.on('secureConnection', onSecureConnection);
  // Registered first so that the state is right before the application's own handler runs.
  server.prependListener('request', onRequest);
  // Node answers an upgrade request as a plain request when the server has no 'upgrade' listener,
  // so ours must never be the only one: it rides along with the application's own.
  const syncUpgrade = () => {
    const all = server.listeners('upgrade');
    const ours = all.includes(onUpgrade);
    const theirs = all.length - (ours ? 1 : 0);
    if (theirs > 0 && !ours) server.prependListener('upgrade', onUpgrade);
    else if (theirs === 0 && ours) server.off('upgrade', onUpgrade);
  };
  // 'newListener' fires before the listener is added; the microtask sees the result.
  const onListenerChange = (event: string | symbol) => {
    if (event === 'upgrade') queueMicrotask(syncUpgrade);
  };
  server.on('newListener', onListenerChange);
  server.on('removeListener', onListenerChange);
  syncUpgrade();

  const observer: ConnectionObserver = {
    counts: () => ({ new: counts[0]!, active: counts[1]!, idle: counts[2]!, hijacked: counts[3]!, closed }),
    connections: () => {
      const now = performance.now();
      return [...live].map((r) => info(r, now));
    },
    requestsTotal: () => requests,
    onStateChange: (hook) => {
      hooks.add(hook);
      return () => hooks.delete(hook);
    },
    close: () => {
      server.off('connection', onConnection);
      server.off('secureConnection', onSecureConnection);
      server.off('newListener', onListenerChange);
      server.off('removeListener', onListenerChange);
      server.off('request', onRequest);
      server.off('upgrade', onUpgrade);
      registry.delete(server);
    },
  };
  registry.set(server, observer);
  return observer;
}
