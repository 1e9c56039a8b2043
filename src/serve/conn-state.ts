// A connection-state observer for node:http(s) servers, like Go's http.Server.ConnState: each
// connection is new, active, idle, hijacked or closed, with its age, requests and bytes.

import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { responseInProgress, tcpSocketUnderTls } from '../node-internals.ts';

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
  /** When the followed state began (with hooks). */
  stateSince: number;
  /** When the last request arrived: what the derived state's age is measured from. */
  lastRequestAt: number;
  requests: number;
  /** Requests received and not yet answered (pipelining can make it more than one). */
  inFlight: number;
}

const RECORD = Symbol('tcplens.connection');
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
  let nextId = 1;
  let closed = 0;
  let requests = 0;

  // Two ways to know a connection's state. Without hooks (the production default) nothing is done
  // per request beyond a count: active or idle is read when asked, from whether Node has a response
  // in progress on the socket. With hooks, every transition is followed as it happens.
  const derived = (r: Record): ConnState => {
    if (r.state === 'hijacked' || r.state === 'closed' || hooks.size > 0) return r.state;
    if (responseInProgress(r.socket)) return 'active';
    return r.requests > 0 ? 'idle' : 'new';
  };
  const since = (r: Record, state: ConnState): number =>
    hooks.size > 0 || state === 'hijacked' ? r.stateSince : state === 'new' ? r.createdAt : r.lastRequestAt;

  const info = (r: Record, now = performance.now()): ConnectionInfo => {
    const state = derived(r);
    return {
      id: r.id,
      remoteAddress: r.remoteAddress,
      remotePort: r.remotePort,
      state,
      ageMs: Math.round(now - r.createdAt),
      inStateMs: Math.round(now - since(r, state)),
      requests: r.requests,
      bytesRead: r.socket.bytesRead,
      bytesWritten: r.socket.bytesWritten,
    };
  };

  const move = (r: Record, to: ConnState) => {
    const from = r.state;
    if (from === to) return;
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
  const follow = (r: Record, res: ServerResponse) => {
    r.inFlight++;
    (res as ServerResponse & { [RECORD]?: Record })[RECORD] = r;
    // on, not once: a response finishes once, and once() would wrap the handler per request.
    res.on('finish', onFinish);
  };
  /** Hooks arrive: take every live connection's derived state as its followed state. */
  const startFollowing = () => {
    const now = performance.now();
    for (const r of live) {
      if (r.state === 'hijacked' || r.state === 'closed') continue;
      const res = responseInProgress(r.socket);
      r.state = res ? 'active' : r.requests > 0 ? 'idle' : 'new';
      r.stateSince = now;
      r.inFlight = 0;
      if (res) follow(r, res);
    }
  };
  const addHook = (hook: StateChangeHook) => {
    if (hooks.size === 0) startFollowing();
    hooks.add(hook);
  };
  if (options.onStateChange) addHook(options.onStateChange);

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
      lastRequestAt: now,
      requests: 0,
      inFlight: 0,
    };
    (socket as Socket & { [RECORD]?: Record })[RECORD] = r;
    live.add(r);
    socket.once('close', onSocketClose);
    if (hooks.size) for (const h of hooks) h(info(r), undefined);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const r = (req.socket as Socket & { [RECORD]?: Record })[RECORD];
    if (!r) return;
    r.requests++;
    r.lastRequestAt = performance.now();
    if (hooks.size === 0) return;
    follow(r, res);
    move(r, 'active');
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
    const raw = tcpSocketUnderTls(tlsSocket);
    const r = raw ? (raw as Socket & { [RECORD]?: Record })[RECORD] : undefined;
    if (r) (tlsSocket as Socket & { [RECORD]?: Record })[RECORD] = r;
  };
  server.on('secureConnection', onSecureConnection);
  // Requests are seen by wrapping emit rather than by a 'request' listener of our own: a second
  // listener measurably slows Node's request path (bench/observer.ts measures it), the
  // wrapper does not. It runs first, so the state is right before the application's handler.
  type Emit = (this: HttpServer, event: string | symbol, ...args: unknown[]) => boolean;
  const emit = server.emit as unknown as Emit;
  const observedEmit = function (
    this: HttpServer,
    event: string | symbol,
    a?: unknown,
    b?: unknown,
    c?: unknown,
  ): boolean {
    if (event === 'request') onRequest(a as IncomingMessage, b as ServerResponse);
    // Listeners get exactly the arguments emitted, passed without building an array.
    // biome-ignore lint/complexity/noArguments: a rest parameter would build an array on every emit
    switch (arguments.length) {
      case 1:
        return emit.call(this, event);
      case 2:
        return emit.call(this, event, a);
      case 3:
        return emit.call(this, event, a, b);
      case 4:
        return emit.call(this, event, a, b, c);
      default:
        // biome-ignore lint/complexity/noArguments: the rare call with more arguments than four
        return emit.apply(this, [...arguments] as [string, ...unknown[]]);
    }
  };
  server.emit = observedEmit as unknown as typeof server.emit;
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
    counts: () => {
      const c: StateCounts = { new: 0, active: 0, idle: 0, hijacked: 0, closed };
      for (const r of live) {
        const state = derived(r);
        if (state !== 'closed') c[state]++;
      }
      return c;
    },
    connections: () => {
      const now = performance.now();
      return [...live].map((r) => info(r, now));
    },
    requestsTotal: () => requests,
    onStateChange: (hook) => {
      addHook(hook);
      return () => hooks.delete(hook);
    },
    close: () => {
      server.off('connection', onConnection);
      server.off('secureConnection', onSecureConnection);
      server.off('newListener', onListenerChange);
      server.off('removeListener', onListenerChange);
      if ((server.emit as unknown) === observedEmit) server.emit = emit as unknown as typeof server.emit;
      server.off('upgrade', onUpgrade);
      registry.delete(server);
    },
  };
  registry.set(server, observer);
  return observer;
}
