// One proxy: a listener, its connections and its toxics; started, stopped ("down") and re-addressed
// as Toxiproxy's Proxy is.

import { createServer, type Server, type Socket } from 'node:net';
import { ApiError, badRequestBody, listenFailed } from './api-error.ts';
import { formatHostPort, parseHostPort, type HostPort } from './address.ts';
import { newCounters, type ConnectionHost, type ProxiedConnection, type ProxyCounters } from './connection.ts';
import { HttpConnection } from './http-link.ts';
import { TcpConnection } from './link.ts';
import { ToxicSet, type ToxicConfig, type ToxicJson } from './toxic-set.ts';
import type { ProxyMode } from './toxics/index.ts';

/** A proxy as the API shows it: Toxiproxy's fields in its order, then ours. */
export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
  mode: ProxyMode;
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
  updateToxic(name: string, change: { attributes?: Record<string, number>; toxicity?: number }): ToxicJson;
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

export function upstreamAddress(upstream: string): HostPort {
  const parsed = parseHostPort(upstream, { allowZero: false });
  if (typeof parsed === 'string') throw badRequestBody(`upstream: ${parsed}`);
  return parsed;
}

export class Proxy implements ConnectionHost, ProxyHandle {
  readonly name: string;
  readonly mode: ProxyMode;
  readonly toxics: ToxicSet;
  readonly counters = newCounters();
  listen: string;
  upstream: string;
  upstreamAddress: HostPort;
  enabled = false;
  private server: Server | undefined;
  private readonly connections = new Set<ProxiedConnection>();

  constructor(name: string, listen: string, upstream: string, mode: ProxyMode) {
    this.name = name;
    this.mode = mode;
    this.listen = listen || '127.0.0.1:0';
    this.upstream = upstream;
    this.upstreamAddress = upstreamAddress(upstream);
    this.toxics = new ToxicSet(mode);
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
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(listenFailed(formatHostPort(address.host, address.port), err)));
      server.listen({ host: address.host, port: address.port }, () => resolve());
    });
    server.on('error', () => {}); // accept errors (EMFILE) must not end the process
    const bound = server.address() as { address: string; port: number };
    this.listen = formatHostPort(bound.address, bound.port);
    this.server = server;
    this.enabled = true;
  }

  /** Close the listener and every connection (Toxiproxy's stop). */
  stop(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.server?.close();
    this.server = undefined;
    for (const c of this.connections) c.destroy();
  }

  private accept(socket: Socket): void {
    this.counters.connectionsTotal++;
    this.counters.connectionsActive++;
    const conn = this.mode === 'http' ? new HttpConnection(this, socket) : new TcpConnection(this, socket);
    this.connections.add(conn);
    conn.start();
  }

  forget(conn: ProxiedConnection): void {
    if (this.connections.delete(conn)) this.counters.connectionsActive--;
  }

  /** Whether listen or upstream differ from ours (Toxiproxy's Differs: a port 0 always differs). */
  differs(listen: string, upstream: string): boolean {
    const a = listenAddress(listen);
    return formatHostPort(a.host, a.port) !== this.listen || upstream !== this.upstream;
  }

  /** Toxiproxy's Update: a new listen or upstream restarts the proxy; enabled starts or stops it. */
  async update(input: { listen?: string; upstream?: string; enabled?: boolean }): Promise<void> {
    const listen = input.listen ?? this.listen;
    const upstream = input.upstream ?? this.upstream;
    const enabled = input.enabled ?? this.enabled;
    if (this.differs(listen, upstream)) {
      const address = upstreamAddress(upstream);
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

  updateToxic(name: string, change: { attributes?: Record<string, number>; toxicity?: number }): ToxicJson {
    return this.toxics.update(name, change).toJSON();
  }

  removeToxic(name: string): void {
    this.toxics.remove(name);
  }

  setEnabled(enabled: boolean): Promise<void> {
    return this.update({ enabled });
  }

  stats(): ProxyStats {
    return {
      name: this.name,
      mode: this.mode,
      enabled: this.enabled,
      listen: this.listen,
      ...this.counters,
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
    };
  }
}
