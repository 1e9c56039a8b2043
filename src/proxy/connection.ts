// What every proxied connection shares, whatever its mode: the proxy it belongs to, its counters,
// the dial to the upstream, and the per-connection toxicity roll.

import { connect, Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { HostPort } from './address.ts';
import type { ToxicEntry, ToxicSet } from './toxic-set.ts';

/** Running totals of one proxy; plain numbers, bumped on the hot path and read at scrape time. */
export interface ProxyCounters {
  connectionsTotal: number;
  connectionsActive: number;
  /** Connections closed at accept because the proxy had max_connections open. */
  connectionsRejected: number;
  /** Connections closed because the upstream could not be reached (or its TLS handshake failed). */
  upstreamFailures: number;
  /** Client connections whose TLS handshake with the proxy failed (listen_tls). */
  tlsHandshakeFailures: number;
  requestsTotal: number;
  bytesUpstream: number;
  bytesDownstream: number;
  /** Bytes read but thrown away by a toxic (timeout, reset_peer, limit_data), per direction. */
  droppedUpstream: number;
  droppedDownstream: number;
}

export function newCounters(): ProxyCounters {
  return {
    connectionsTotal: 0,
    connectionsActive: 0,
    connectionsRejected: 0,
    upstreamFailures: 0,
    tlsHandshakeFailures: 0,
    requestsTotal: 0,
    bytesUpstream: 0,
    bytesDownstream: 0,
    droppedUpstream: 0,
    droppedDownstream: 0,
  };
}

/** What a connection needs from its proxy. */
export interface ConnectionHost {
  readonly name: string;
  /** Undefined when the upstream has no port: every dial fails. */
  readonly upstreamAddress: HostPort | undefined;
  /** Dial the upstream over TLS with these options; undefined: plain TCP. */
  readonly upstreamTls: ConnectionOptions | undefined;
  readonly toxics: ToxicSet;
  readonly counters: ProxyCounters;
  /** The connection has closed both its sockets. */
  forget(conn: ProxiedConnection): void;
}

export interface ProxiedConnection {
  /** Close both sockets now (the proxy went down or was deleted). */
  destroy(): void;
}

/** Dial the upstream for an accepted (paused) client; the client is closed if the dial fails. */
export function dialUpstream(host: ConnectionHost, client: Socket, onConnected: (upstream: Socket) => void): Socket {
  const failed = () => {
    host.counters.upstreamFailures++;
    client.destroy();
  };
  const address = host.upstreamAddress;
  if (address === undefined) {
    queueMicrotask(failed);
    return new Socket();
  }
  const tls = host.upstreamTls;
  // tls.connect hands allowHalfOpen to its TLSSocket; its types omit it.
  const upstream = tls
    ? connectTls({
        ...tls,
        host: address.host,
        port: address.port,
        allowHalfOpen: true,
      } as ConnectionOptions).setNoDelay(true)
    : connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
  upstream.once('error', failed);
  upstream.once(tls ? 'secureConnect' : 'connect', () => {
    upstream.off('error', failed);
    onConnected(upstream);
  });
  return upstream;
}

/** Toxicity rolled once per connection and toxic, stable for the connection's life (Toxiproxy #603, #148). */
export class Rolls {
  private readonly values = new Map<ToxicEntry, number>();
  private readonly counted = new Set<ToxicEntry>();
  /** The client socket, whose address toxics limited to some clients read. */
  private readonly client: { readonly remoteAddress?: string | undefined };

  constructor(client: { readonly remoteAddress?: string | undefined }) {
    this.client = client;
  }

  /**
   * Whether the toxic applies to this connection; counts the connection once as affected. The same
   * draw is compared with a toxicity changed later, so raising it only ever adds connections.
   */
  applies(entry: ToxicEntry): boolean {
    if (!entry.appliesTo(this.client)) return false;
    // Toxicity 0 (or below) never applies: no draw is needed yet, and a later one is as uniform.
    if (!(entry.toxicity > 0)) return false;
    let u = this.values.get(entry);
    if (u === undefined) {
      u = Math.random();
      this.values.set(entry, u);
    }
    const yes = u < entry.toxicity;
    if (yes && !this.counted.has(entry)) {
      this.counted.add(entry);
      entry.affectConnection();
    }
    return yes;
  }
}
