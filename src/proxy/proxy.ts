// One proxy: a listener, its connections and its toxics; started, stopped ("down") and re-addressed
// as Toxiproxy's Proxy is.

import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { ApiError, badRequestBody, listenFailed } from './api-error.ts';
import { dialsItself, formatHostPort, parseHostPort, type HostPort } from './address.ts';
import { newCounters, type ConnectionHost, type ProxiedConnection, type ProxyCounters } from './connection.ts';
import { HttpConnection } from './http-link.ts';
import { TcpConnection } from './link.ts';
import { ToxicSet, type ToxicConfig, type ToxicJson } from './toxic-set.ts';
import { connectionGate, rowCounters, totalCounters, type CounterBlock } from './shared-counters.ts';
import type { ProxyMode } from './toxics/index.ts';
import type { ListenTls, ListenTlsJson, UpstreamTls, UpstreamTlsJson } from './tls.ts';

/** A proxy as the API shows it: Toxiproxy's fields in its order, then ours. */
export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
  mode: ProxyMode;
  max_connections: number;
  /** Present when the proxy terminates TLS from its clients. */
  listen_tls?: ListenTlsJson;
  /** Present when the proxy speaks TLS to its upstream. */
  upstream_tls?: UpstreamTlsJson;
}

/** Both sides' TLS, loaded (files read, certificate checked or made). */
export interface ProxyTls {
  listen?: ListenTls;
  upstream?: UpstreamTls;
}

export interface ToxicStats {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  /** Connections whose roll picked the toxic (TCP mode). */
  connectionsAffected: number;
  /** Requests whose roll picked the toxic (HTTP mode). */
  requestsAffected: number;
}

export interface ProxyStats extends ProxyCounters {
  name: string;
  mode: ProxyMode;
  enabled: boolean;
  listen: string;
  upstream: string;
  maxConnections: number;
  toxics: ToxicStats[];
}

/** What the library hands out for one proxy. */
export interface ProxyHandle {
  readonly name: string;
  readonly mode: ProxyMode;
  /** The bound address once started ("127.0.0.1:40123"), as configured before. */
  readonly listen: string;
  readonly host: string;
  readonly port: number;
  readonly upstream: string;
  readonly enabled: boolean;
  addToxic(toxic: ToxicConfig): ToxicJson;
  updateToxic(
    name: string,
    change: { attributes?: Record<string, number>; toxicity?: number; clients?: string[] | null },
  ): ToxicJson;
  removeToxic(name: string): void;
  /** false is "down": the listener and every connection close. */
  setEnabled(enabled: boolean): Promise<void>;
  stats(): ProxyStats;
  toJSON(): ProxyJson;
}

function listenAddress(listen: string): HostPort {
  const parsed = parseHostPort(listen);
  if (typeof parsed === 'string') throw new ApiError(`listen tcp: address ${listen}: ${parsed}`, 500);
  return parsed;
}

/**
 * The upstream's address, or undefined for one without a port: Toxiproxy accepts any upstream and
 * each connection then fails to dial (counted in upstream failures).
 */
export function upstreamAddress(upstream: string): HostPort | undefined {
  const parsed = parseHostPort(upstream);
  return typeof parsed === 'string' ? undefined : parsed;
}

/** A default that a flood cannot turn into descriptor exhaustion, far above what a test suite opens. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The most a listener's maxConnections takes (an int32). */
export const MAX_CONNECTIONS_LIMIT = 2 ** 31 - 1;

/** Told by the main thread's proxies of what the other threads must do the same (threads.ts). */
export interface ProxyMirror {
  started(proxy: Proxy): void;
  stopped(proxy: Proxy): void;
  /** max_connections changed. */
  limited(proxy: Proxy): void;
  /** Resolves once every thread has done what it was told so far. */
  settle(): Promise<void>;
}

/** A proxy whose connections several threads carry: each listens on the same address (SO_REUSEPORT). */
export interface ProxyShare {
  /** The counters of every thread and the open-connection gate. */
  block: CounterBlock;
  /** This thread's row of counters. */
  slot: number;
  /** In the main thread. */
  mirror?: ProxyMirror;
}

let lastId = 0;

function selfLoop(listen: string, upstream: string): ApiError {
  return badRequestBody(
    `upstream ${upstream} is this proxy's own listen address ${listen}: every connection would open another`,
  );
}

/** Bind `address` without SO_REUSEPORT and let it go again: the port it got, or listenFailed. */
async function bindAlone(address: HostPort): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(listenFailed(formatHostPort(address.host, address.port), err)),
    );
    probe.listen({ host: address.host, port: address.port }, () => resolve());
  });
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export class Proxy implements ConnectionHost, ProxyHandle {
  readonly name: string;
  readonly mode: ProxyMode;
  /** Names this proxy to other threads: a name is reused by a new proxy once this one is deleted. */
  readonly id = ++lastId;
  readonly toxics: ToxicSet;
  /** This thread's counts (all of them, with one thread). */
  readonly counters: ProxyCounters;
  readonly share: ProxyShare | undefined;
  /** Connections open in every thread, with several. */
  private readonly gate: Int32Array | undefined;
  listen: string;
  upstream: string;
  upstreamAddress: HostPort | undefined;
  enabled = false;
  maxConnections: number;
  readonly tls: ProxyTls;
  private server: Server | undefined;
  private readonly connections = new Set<ProxiedConnection>();

  constructor(
    name: string,
    listen: string,
    upstream: string,
    mode: ProxyMode,
    maxConnections = DEFAULT_MAX_CONNECTIONS,
    tls: ProxyTls = {},
    share?: ProxyShare,
  ) {
    this.name = name;
    this.share = share;
    this.counters = share ? rowCounters(share.block, share.slot) : newCounters();
    this.gate = share ? connectionGate(share.block) : undefined;
    this.tls = tls;
    this.maxConnections = maxConnections;
    this.mode = mode;
    this.listen = listen || '127.0.0.1:0';
    this.upstream = upstream;
    this.upstreamAddress = upstreamAddress(upstream);
    this.toxics = new ToxicSet(mode, share ? { slots: share.block.slots, slot: share.slot } : undefined);
  }

  get upstreamTls(): UpstreamTls['options'] | undefined {
    return this.tls.upstream?.options;
  }

  get host(): string {
    return listenAddress(this.listen).host;
  }

  get port(): number {
    return listenAddress(this.listen).port;
  }

  /** Listen; `listen` becomes the bound address. Throws ApiError 500 when the address cannot be bound. */
  async start(): Promise<void> {
    if (this.enabled) return;
    const address = listenAddress(this.listen);
    const listenTls = this.tls.listen;
    let server: Server;
    if (listenTls) {
      // Connections count once their handshake is done; a failed handshake never reaches a toxic.
      // Nothing is read past the handshake until the upstream is there (the connection resumes it).
      server = createTlsServer(
        { cert: listenTls.pem.cert, key: listenTls.pem.key, allowHalfOpen: true, noDelay: true },
        (socket) => {
          socket.pause();
          this.accept(socket);
        },
      );
      server.on('tlsClientError', () => this.counters.tlsHandshakeFailures++);
    } else {
      server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
        this.accept(socket),
      );
    }
    // SO_REUSEPORT would let a second listener on a port in use join it instead of failing, as
    // Toxiproxy's does: the main thread first binds the address alone, which fails then, and takes
    // the port that gives (port 0: a free one) for the shared listeners.
    const port = this.share?.mirror ? await bindAlone(address) : address.port;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(listenFailed(formatHostPort(address.host, address.port), err)),
      );
      // Shared, the kernel spreads the connections over every thread's listener.
      server.listen({ host: address.host, port, reusePort: this.share !== undefined }, () => resolve());
    });
    server.on('error', () => {}); // accept errors (EMFILE) must not end the process
    const bound = server.address() as { address: string; port: number };
    if (this.upstreamAddress && dialsItself({ host: bound.address, port: bound.port }, this.upstreamAddress)) {
      server.close();
      throw selfLoop(formatHostPort(bound.address, bound.port), this.upstream);
    }
    // Node closes connections past the cap at accept, before any of ours is made for them.
    server.maxConnections = this.maxConnections;
    server.on('drop', () => this.counters.connectionsRejected++);
    this.listen = formatHostPort(bound.address, bound.port);
    this.server = server;
    this.enabled = true;
    this.share?.mirror?.started(this);
  }

  /** Close the listener and every connection (Toxiproxy's stop). */
  stop(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.share?.mirror?.stopped(this);
    this.server?.close();
    this.server = undefined;
    for (const c of this.connections) c.destroy();
  }

  private accept(socket: Socket): void {
    // Each listener counts only its own connections; the cap is on all of them.
    if (this.gate && Atomics.add(this.gate, 0, 1) >= this.maxConnections) {
      Atomics.sub(this.gate, 0, 1);
      this.counters.connectionsRejected++;
      socket.destroy();
      return;
    }
    this.counters.connectionsTotal++;
    this.counters.connectionsActive++;
    const conn = this.mode === 'http' ? new HttpConnection(this, socket) : new TcpConnection(this, socket);
    this.connections.add(conn);
    conn.start();
  }

  forget(conn: ProxiedConnection): void {
    if (!this.connections.delete(conn)) return;
    this.counters.connectionsActive--;
    if (this.gate) Atomics.sub(this.gate, 0, 1);
  }

  /** Whether listen or upstream differ from ours (Toxiproxy's Differs: a port 0 always differs). */
  differs(listen: string, upstream: string): boolean {
    const a = listenAddress(listen);
    return formatHostPort(a.host, a.port) !== this.listen || upstream !== this.upstream;
  }

  /** Toxiproxy's Update: a new listen or upstream restarts the proxy; enabled starts or stops it. */
  async update(input: {
    listen?: string;
    upstream?: string;
    enabled?: boolean;
    maxConnections?: number;
  }): Promise<void> {
    const listen = input.listen ?? this.listen;
    const upstream = input.upstream ?? this.upstream;
    const enabled = input.enabled ?? this.enabled;
    if (input.maxConnections !== undefined) {
      this.maxConnections = input.maxConnections;
      if (this.server) this.server.maxConnections = input.maxConnections;
      this.share?.mirror?.limited(this);
    }
    if (this.differs(listen, upstream)) {
      const address = upstreamAddress(upstream);
      // Refused before the proxy stops, so that it keeps serving its old upstream.
      if (address && dialsItself(listenAddress(listen), address)) throw selfLoop(listen, upstream);
      this.stop();
      this.listen = listen;
      this.upstream = upstream;
      this.upstreamAddress = address;
    }
    if (enabled !== this.enabled) {
      if (enabled) await this.start();
      else this.stop();
    }
  }

  addToxic(toxic: ToxicConfig): ToxicJson {
    return this.toxics.add(toxic).toJSON();
  }

  updateToxic(
    name: string,
    change: { attributes?: Record<string, number>; toxicity?: number; clients?: string[] | null },
  ): ToxicJson {
    return this.toxics.update(name, change).toJSON();
  }

  removeToxic(name: string): void {
    this.toxics.remove(name);
  }

  async setEnabled(enabled: boolean): Promise<void> {
    await this.update({ enabled });
    await this.share?.mirror?.settle();
  }

  /** Counts of every thread. */
  totals(): ProxyCounters {
    return this.share ? totalCounters(this.share.block) : { ...this.counters };
  }

  stats(): ProxyStats {
    return {
      name: this.name,
      mode: this.mode,
      enabled: this.enabled,
      listen: this.listen,
      upstream: this.upstream,
      maxConnections: this.maxConnections,
      ...this.totals(),
      toxics: this.toxics.list().map((t) => ({
        name: t.name,
        type: t.type,
        stream: t.stream,
        toxicity: t.toxicity,
        connectionsAffected: t.connectionsAffected,
        requestsAffected: t.requestsAffected,
      })),
    };
  }

  toJSON(): ProxyJson {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.toxics.list().map((t) => t.toJSON()),
      mode: this.mode,
      max_connections: this.maxConnections,
      ...(this.tls.listen ? { listen_tls: { ...this.tls.listen.json } } : {}),
      ...(this.tls.upstream ? { upstream_tls: { ...this.tls.upstream.json } } : {}),
    };
  }
}
