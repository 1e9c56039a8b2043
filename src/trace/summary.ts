// The end-of-trace summary, built event by event: transition matrix, connection lifetimes, resets, retransmits. Pure.

import * as hdr from 'hdr-histogram-js';
import type { TcpState } from '../model/tcp-state.ts';
import type { TraceBackend, TraceEvent, TraceEventType } from './event.ts';
import { formatHostPort } from '../text/host-port.ts';

export interface TransitionCount {
  /** null: a socket first seen in `to` (sampling only). */
  from: TcpState | null;
  to: TcpState;
  count: number;
  /** TIME_WAIT inferred from a FIN_WAIT2/CLOSING → CLOSE hand-off. */
  derived: boolean;
}

export interface LifetimeSummary {
  /** Connections whose whole life was seen: from SYN_SENT or SYN_RECV (first sighting when sampling) to CLOSE or TIME_WAIT. */
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ResetCount {
  direction: 'sent' | 'received';
  /** The server's port of the connection (see resetPort). */
  port: number;
  /** The kernel's reason for a reset sent (Linux 6.10+); null for resets received and older kernels. */
  reason: string | null;
  count: number;
}

export interface DropCount {
  /** The kernel's name of the drop reason. */
  reason: string;
  /** The server's port of the connection, or the local port a packet with no socket was sent to (see resetPort). */
  port: number;
  count: number;
  /** A reason that says nothing about TCP (not printed event by event unless asked). */
  noise: boolean;
}

export interface PeerRetransmits {
  /** address:port of the other end ([v6]:port). */
  peer: string;
  retransmits: number;
  synackRetransmits: number;
}

export interface TraceSummary {
  backend: TraceBackend;
  /** Poll backend: the interval between snapshots. */
  intervalMs?: number;
  durationS: number;
  events: Record<TraceEventType, number>;
  /** Events the kernel dropped before bpftrace could read them (bpftrace's own count). */
  lostEvents: number;
  /** Events the kernel never ran our programs for: one was already running on that CPU. */
  missedEvents: number;
  transitions: TransitionCount[];
  lifetimes: LifetimeSummary | null;
  resets: ResetCount[];
  /** Drops by reason and port, most first (with --events drop). */
  drops: DropCount[];
  retransmits: PeerRetransmits[];
}

export interface SummaryMeta {
  backend: TraceBackend;
  intervalMs?: number;
  durationS: number;
  lostEvents: number;
  missedEvents: number;
}

/** Lifetimes in µs, 1 µs to 1 day at 3 significant digits (longer ones count as one day). */
const MAX_LIFETIME_US = 86_400_000_000;

function peerOf(e: TraceEvent): string {
  return formatHostPort(e.daddr, e.dport);
}

export class TraceSummaryBuilder {
  #events: Record<TraceEventType, number> = {
    state: 0,
    'reset-sent': 0,
    'reset-received': 0,
    retransmit: 0,
    'synack-retransmit': 0,
    drop: 0,
    life: 0,
  };
  #transitions = new Map<TcpState | null, Map<TcpState, TransitionCount>>();
  #derivedTransitions = new Map<TcpState | null, Map<TcpState, TransitionCount>>();
  /** Open connections: when their life began, and which side we are. */
  #open = new Map<string, { startMs: number; role: 'client' | 'server' }>();
  #listeningPorts = new Set<number>();
  #lifetimes = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LIFETIME_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  #resets = new Map<string, ResetCount>();
  #drops = new Map<string, DropCount>();
  #peers = new Map<string, PeerRetransmits>();

  /** Ports known to listen from before the trace (its LISTEN transitions are never seen). */
  addListeningPorts(ports: readonly number[]): void {
    for (const p of ports) this.#listeningPorts.add(p);
  }

  add(e: TraceEvent): void {
    this.#events[e.type]++;
    switch (e.type) {
      case 'state':
        this.#state(e);
        return;
      case 'reset-sent':
      case 'reset-received':
        this.#reset(e);
        return;
      case 'drop': {
        const port = this.resetPort(e);
        const key = `${e.reason}:${port}`;
        const d = this.#drops.get(key);
        if (d) d.count++;
        else this.#drops.set(key, { reason: e.reason ?? '?', port, count: 1, noise: e.noise === true });
        return;
      }
      case 'retransmit':
      case 'synack-retransmit': {
        const peer = peerOf(e);
        let p = this.#peers.get(peer);
        if (!p) this.#peers.set(peer, (p = { peer, retransmits: 0, synackRetransmits: 0 }));
        if (e.type === 'retransmit') p.retransmits++;
        else p.synackRetransmits++;
      }
    }
  }

  #state(e: TraceEvent): void {
    const to = e.newState;
    if (!to) return;
    // By from, then to: two lookups of the states' own names, no key built for each event.
    const derived = e.derived === true;
    let row = (derived ? this.#derivedTransitions : this.#transitions).get(e.oldState);
    if (!row) (derived ? this.#derivedTransitions : this.#transitions).set(e.oldState, (row = new Map()));
    const t = row.get(to);
    if (t) t.count++;
    else row.set(to, { from: e.oldState, to, count: 1, derived });

    if (to === 'LISTEN') this.#listeningPorts.add(e.sport);
    const from = e.oldState;
    if (from === 'CLOSE' && to === 'SYN_SENT') {
      this.#open.set(e.sk, { startMs: e.timeMs, role: 'client' });
    } else if (from === 'LISTEN' && to === 'SYN_RECV') {
      this.#listeningPorts.add(e.sport);
      this.#open.set(e.sk, { startMs: e.timeMs, role: 'server' });
    } else if (e.sampled && from === null && to !== 'LISTEN') {
      this.#open.set(e.sk, { startMs: e.timeMs, role: this.#listeningPorts.has(e.sport) ? 'server' : 'client' });
    } else if (to === 'CLOSE' || to === 'TIME_WAIT') {
      const open = this.#open.get(e.sk);
      if (open) {
        this.#open.delete(e.sk);
        const us = Math.round((e.timeMs - open.startMs) * 1000);
        this.#lifetimes.recordValue(Math.min(Math.max(us, 1), MAX_LIFETIME_US));
      }
    }
  }

  /**
   * The port that names a connection in the reset table: the server's. Known for connections seen
   * from their start (client: the remote port, server: the local one) and for resets that answer a
   * segment to a port with no socket (the local port, which the peer tried; drops with no socket
   * likewise); otherwise the end that
   * is a known listening port, else the lower of the two (service ports sit below the ephemeral range).
   */
  resetPort(e: TraceEvent): number {
    const open = this.#open.get(e.sk);
    if (open) return open.role === 'client' ? e.dport : e.sport;
    if ((e.type === 'reset-sent' || e.type === 'drop') && e.oldState === null) return e.sport;
    if (this.#listeningPorts.has(e.sport)) return e.sport;
    if (this.#listeningPorts.has(e.dport)) return e.dport;
    return Math.min(e.sport, e.dport);
  }

  #reset(e: TraceEvent): void {
    const direction = e.type === 'reset-sent' ? 'sent' : 'received';
    const port = this.resetPort(e);
    const reason = e.reason ?? null;
    const key = `${direction}:${port}:${reason}`;
    const r = this.#resets.get(key);
    if (r) r.count++;
    else this.#resets.set(key, { direction, port, reason, count: 1 });
  }

  result(meta: SummaryMeta): TraceSummary {
    const h = this.#lifetimes;
    const ms = (us: number) => Math.round(us) / 1000;
    const byCount = <T extends { count: number }>(a: T, b: T) => b.count - a.count;
    return {
      backend: meta.backend,
      ...(meta.intervalMs !== undefined ? { intervalMs: meta.intervalMs } : {}),
      durationS: meta.durationS,
      events: { ...this.#events },
      lostEvents: meta.lostEvents,
      missedEvents: meta.missedEvents,
      transitions: [...this.#transitions.values(), ...this.#derivedTransitions.values()]
        .flatMap((row) => [...row.values()])
        .sort(byCount),
      lifetimes: h.totalCount
        ? {
            count: h.totalCount,
            // A percentile is the top of its bucket, which can lie above the largest value recorded.
            p50Ms: ms(Math.min(h.getValueAtPercentile(50), h.maxValue)),
            p90Ms: ms(Math.min(h.getValueAtPercentile(90), h.maxValue)),
            p99Ms: ms(Math.min(h.getValueAtPercentile(99), h.maxValue)),
            maxMs: ms(h.maxValue),
          }
        : null,
      resets: [...this.#resets.values()].sort(byCount),
      drops: [...this.#drops.values()].sort(byCount),
      retransmits: [...this.#peers.values()].sort(
        (a, b) => b.retransmits + b.synackRetransmits - (a.retransmits + a.synackRetransmits),
      ),
    };
  }
}

/** The summary of a finished list of events (for tests and for callers that kept them). */
export function summarizeTrace(events: Iterable<TraceEvent>, meta: SummaryMeta): TraceSummary {
  const b = new TraceSummaryBuilder();
  for (const e of events) b.add(e);
  return b.result(meta);
}
