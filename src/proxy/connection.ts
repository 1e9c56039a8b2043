// What every proxied connection shares, whatever its mode: the proxy it belongs to, its counters,
// the dial to the upstream, and the per-connection toxicity roll.

import { connect, Socket } from 'node:net';
import type { HostPort } from './address.ts';
import type { ToxicEntry, ToxicSet } from './toxic-set.ts';

/** Running totals of one proxy; plain numbers, bumped on the hot path and read at scrape time. */
export interface ProxyCounters {
  connectionsTotal: number;
  connectionsActive: number;
  /** Connections closed at accept because the proxy had max_connections open. */
  connectionsRejected: number;
  /** Connections closed because the upstream could not be reached. */
  upstreamFailures: number;
  requestsTotal: number;
  bytesUpstream: number;
  bytesDownstream: number;
  /** Bytes read but thrown away by a toxic (timeout, reset_peer, limit_data), per direction. */
  droppedUpstream: number;
  droppedDownstream: number;
}

export function newCounters(): ProxyCounters {
  return { connectionsTotal: 0, connectionsActive: 0, connectionsRejected: 0, upstreamFailures: 0, requestsTotal: 0, bytesUpstream: 0, bytesDownstream: 0, droppedUpstream: 0, droppedDownstream: 0 };
}

/** What a connection needs from its proxy. */
export interface ConnectionHost {
  readonly name: string;
  /** Undefined when the upstream has no port: every dial fails. */
  readonly upstreamAddress: HostPort | undefined;
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
  const upstream = connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
  upstream.once('error', failed);
  upstream.once('connect', () => {
    upstream.off('error', failed);
    onConnected(upstream);
  });
  return upstream;
}

/** Toxicity rolled once per connection and toxic, stable for the connection's life (Toxiproxy #603, #148). */
export class Rolls {
  private readonly values = new Map<ToxicEntry, number>();
  private readonly counted = new Set<ToxicEntry>();

  /**
   * Whether the toxic applies to this connection; counts the connection once as affected. The same
   * draw is compared with a toxicity changed later, so raising it only ever adds connections.
   */
  applies(entry: ToxicEntry): boolean {
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
      entry.connectionsAffected++;
    }
    return yes;
  }
}
