// Per-peer RTT and retransmits of ESTABLISHED connections from tcp_info (netlink): the query behind
// `tcplens sockets -i --by peer`, the top N peers by connections and the rest as one, with the RTT
// distribution of every connection. Taken at most once per interval, shared by whoever asks meanwhile.

import type { Group, RttSpread } from '../analyze/socket-query.ts';
import { querySockets } from '../host/socket-query.ts';
import { TcplensError } from '../errors.ts';

export interface PeerRtt {
  /** Epoch ms when the table was read. */
  takenAt: number;
  /** The top N remote addresses by ESTABLISHED connections, most first, with RTT p50/p99 and retransmits. */
  peers: Group[];
  /** Every other peer's connections as one group, key "other"; absent when every peer is listed. */
  rest?: Group;
  /** RTTs of every ESTABLISHED connection. */
  rtt: RttSpread;
}

export interface PeerRttSource {
  /** The latest reading (a new one when the last is older than the interval); undefined when it cannot be read. */
  get(): Promise<PeerRtt | undefined>;
  /**
   * The latest reading as it is, and a new one started after the caller's answer has left
   * (setImmediate) when it is older than the interval: the exporter's scrapes never wait for it.
   */
  peek(): PeerRtt | undefined;
  /** Why there is no reading (netlink unusable here), once one was tried. */
  problem(): string | undefined;
}

export function createPeerRttSource(o: { topN: number; intervalMs: number }): PeerRttSource {
  let latest: PeerRtt | undefined;
  let pending: Promise<PeerRtt | undefined> | undefined;
  let problem: string | undefined;
  // A reading holds the event loop for as long as it takes (a scan of every connection): on a host
  // where that is long, it is taken less often, so that it never takes more than a fifth of the time.
  let lastReadMs = 0;
  const interval = () => Math.max(o.intervalMs, 5 * lastReadMs);
  const read = async (): Promise<PeerRtt | undefined> => {
    const takenAt = Date.now();
    const started = performance.now();
    try {
      const r = await querySockets({
        by: 'peer',
        info: true,
        spread: true,
        top: o.topN,
        filter: { states: ['ESTABLISHED'] },
      });
      problem = undefined;
      lastReadMs = performance.now() - started;
      return { takenAt, peers: r.groups ?? [], ...(r.rest ? { rest: r.rest } : {}), rtt: r.rtt! };
    } catch (err) {
      // tcp_info comes only through netlink: where it cannot be used, the rest goes on without RTTs.
      if (!(err instanceof TcplensError)) throw err;
      problem = err.message;
      return undefined;
    }
  };
  // Time of the last reading tried, so that a host where it fails is not asked more often than one where it works.
  let lastTry = -Infinity;
  let scheduled = false;
  const get = (): Promise<PeerRtt | undefined> => {
    if (pending) return pending;
    if (Date.now() - lastTry < interval()) return Promise.resolve(latest);
    lastTry = Date.now();
    pending = read().then(
      (r) => {
        pending = undefined;
        latest = r;
        return r;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
  return {
    get,
    peek() {
      if (!scheduled && !pending && Date.now() - lastTry >= interval()) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          // A failure of ours shows on the next get(); here the exporter keeps its last reading.
          get().catch(() => undefined);
        });
      }
      return latest;
    },
    problem: () => problem,
  };
}
