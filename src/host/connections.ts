// What tcp_info says about the connections over a window: two readings of every connection's
// counters (taken during host scans), compared connection by connection at the second.

import { TIMER_KINDS, localAddress, remoteAddress, type TcpRow } from '../kernel/socket-row.ts';
import { TI } from '../kernel/tcp-info.ts';
import { type TcpState, stateCode } from '../model/tcp-state.ts';
import { type SocketSource, scanSocketTable } from '../kernel/socket-table.ts';
import type {
  ConnectionEvidence,
  LimitedConnection,
  PeerRetransmits,
  StuckSendQueue,
} from '../analyze/doctor/snapshot.ts';
import { formatPeerKey, peerKey } from './top-list.ts';
import { formatHostPort } from '../text/host-port.ts';

const LISTEN = stateCode('LISTEN');
const TIME_WAIT = stateCode('TIME_WAIT');
const SYN_RECV = stateCode('SYN_RECV');

// One reading of a connection, by position.
const SEGS_OUT = 0;
const RETRANS = 1;
const ACKED = 2;
const BUSY_US = 3;
const RWND_US = 4;
const SNDBUF_US = 5;
const SEND_Q = 6;
const FIELDS = 7;

/** Peers kept in the evidence, the busiest first; the totals count every peer. */
export const MAX_PEERS = 200;
/** Limited connections and stuck queues kept, the worst first. */
export const MAX_LISTED = 50;
/** A connection busy for less than this share of the window says nothing about its limits. */
const MIN_BUSY_SHARE = 0.1;

interface PeerAcc {
  connections: number;
  segsOut: number;
  retrans: number;
  worst?: { connection: string; segsOut: number; retransSegs: number };
}

export function connectionText(row: TcpRow): string {
  return `${formatHostPort(localAddress(row), row.localPort)} -> ${formatHostPort(remoteAddress(row), row.remotePort)}`;
}

const n = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 0 : v);

// A host with thousands of limited connections keeps only the worst: the lists stay bounded while
// the scan runs, not only in the result.
const limitedShare = (c: LimitedConnection) => (c.rwndLimitedMs + c.sndbufLimitedMs) / Math.max(1, c.busyMs);
function worstLimited(list: LimitedConnection[]): LimitedConnection[] {
  return list.sort((a, b) => limitedShare(b) - limitedShare(a) || b.busyMs - a.busyMs).slice(0, MAX_LISTED);
}
function biggestQueues(list: StuckSendQueue[]): StuckSendQueue[] {
  return list.sort((a, b) => b.sendQueueEndBytes - a.sendQueueEndBytes).slice(0, MAX_LISTED);
}

/**
 * Feed it the rows of a scan with tcp_info between begin() and end(); the first end() keeps a
 * reading, each later one compares against the previous reading and returns the evidence.
 * Connections are matched by socket inode (orphans, inode 0, are left out).
 */
export class ConnectionWindow {
  private previous: Map<number, Float64Array> | undefined;
  private previousMs = 0;
  private reading = new Map<number, Float64Array>();
  private windowMs = 0;
  private peers = new Map<number | string, PeerAcc>();
  private limited: LimitedConnection[] = [];
  private stuck: StuckSendQueue[] = [];
  private connections = 0;
  private segsOut = 0;
  private retrans = 0;

  begin(): void {
    this.reading = new Map();
    // The window ends when the scan does (end() sets it): this first guess only sorts out the
    // connections too little busy to judge.
    this.windowMs = this.previous ? performance.now() - this.previousMs : 0;
    this.peers = new Map();
    this.limited = [];
    this.stuck = [];
    this.connections = 0;
    this.segsOut = 0;
    this.retrans = 0;
  }

  visit(row: TcpRow): void {
    const state = row.state;
    if (!row.hasInfo || !row.info || row.inode === 0 || state === LISTEN || state === TIME_WAIT || state === SYN_RECV)
      return;
    const v = row.info.values;
    const now = new Float64Array(FIELDS);
    now[SEGS_OUT] = n(v[TI.segsOut]);
    now[RETRANS] = n(v[TI.totalRetrans]);
    now[ACKED] = n(v[TI.bytesAcked]);
    now[BUSY_US] = n(v[TI.busyUs]);
    now[RWND_US] = n(v[TI.rwndLimitedUs]);
    now[SNDBUF_US] = n(v[TI.sndbufLimitedUs]);
    now[SEND_Q] = row.txQueue;
    this.reading.set(row.inode, now);
    if (!this.previous) return;
    this.compare(row, now, this.previous.get(row.inode));
  }

  private compare(row: TcpRow, now: Float64Array, before: Float64Array | undefined): void {
    // A connection not seen before began in the window: all its counts are the window's.
    const b = before && before[SEGS_OUT]! <= now[SEGS_OUT]! ? before : undefined;
    const d = (i: number) => now[i]! - (b ? b[i]! : 0);
    const segs = d(SEGS_OUT);
    const retrans = d(RETRANS);
    this.connections++;
    this.segsOut += segs;
    this.retrans += retrans;
    const key = peerKey(row);
    let p = this.peers.get(key);
    if (!p) this.peers.set(key, (p = { connections: 0, segsOut: 0, retrans: 0 }));
    p.connections++;
    p.segsOut += segs;
    p.retrans += retrans;
    if (retrans > 0 && (!p.worst || retrans > p.worst.retransSegs))
      p.worst = { connection: connectionText(row), segsOut: segs, retransSegs: retrans };

    const busyUs = d(BUSY_US);
    const rwndUs = d(RWND_US);
    const sndbufUs = d(SNDBUF_US);
    if (busyUs >= this.windowMs * 1000 * MIN_BUSY_SHARE && rwndUs + sndbufUs > 0) {
      const c: LimitedConnection = {
        connection: connectionText(row),
        peer: formatPeerKey(key),
        busyMs: Math.round(busyUs / 1000),
        rwndLimitedMs: Math.round(rwndUs / 1000),
        sndbufLimitedMs: Math.round(sndbufUs / 1000),
      };
      const info = row.info!;
      if (info.hasSkmem && !Number.isNaN(info.skmem[3]!)) c.sndBufBytes = info.skmem[3]!;
      const wnd = info.values[TI.sndWnd]!;
      if (!Number.isNaN(wnd)) c.peerWindowBytes = wnd;
      this.limited.push(c);
      if (this.limited.length >= 20 * MAX_LISTED) this.limited = worstLimited(this.limited);
    }
    if (b && b[SEND_Q]! > 0 && now[SEND_Q]! > 0 && now[ACKED] === b[ACKED]) {
      if (this.stuck.length >= 20 * MAX_LISTED) this.stuck = biggestQueues(this.stuck);
      this.stuck.push({
        connection: connectionText(row),
        peer: formatPeerKey(key),
        sendQueueStartBytes: b[SEND_Q]!,
        sendQueueEndBytes: now[SEND_Q]!,
        timer: TIMER_KINDS[row.timer] ?? 'unknown',
      });
    }
  }

  /** Ends the reading: undefined after the first, the evidence over the window after each later one. */
  end(): ConnectionEvidence | undefined {
    const had = this.previous;
    // Both readings are timed at the end of their scans, so a process held up before a scan (a
    // busy machine) does not shorten the window against the kernel's own counts.
    const now = performance.now();
    if (had) this.windowMs = now - this.previousMs;
    this.previous = this.reading;
    this.previousMs = now;
    if (!had) return undefined;
    const peers: PeerRetransmits[] = [...this.peers]
      .sort((a, b) => b[1].segsOut - a[1].segsOut)
      .slice(0, MAX_PEERS)
      .map(([key, p]) => {
        const out: PeerRetransmits = {
          peer: formatPeerKey(key),
          connections: p.connections,
          segsOut: p.segsOut,
          retransSegs: p.retrans,
        };
        if (p.worst) out.worst = p.worst;
        return out;
      });
    return {
      windowS: Math.round(this.windowMs / 100) / 10,
      connections: this.connections,
      peers,
      segsOut: this.segsOut,
      retransSegs: this.retrans,
      limited: worstLimited(this.limited),
      stuckSendQueues: biggestQueues(this.stuck),
    };
  }
}

/**
 * A reading of every connection into the window, outside a sample (the start of doctor's window).
 * Throws NetlinkUnavailableError where tcp_info cannot be had.
 */
export function readConnections(window: ConnectionWindow, source?: SocketSource): void {
  window.begin();
  scanSocketTable({ source, info: true, memory: true, states: CONNECTED_STATES }, (row) => window.visit(row));
  window.end();
}

/** The states in which a socket carries tcp_info worth comparing. */
const CONNECTED_STATES: TcpState[] = [
  'ESTABLISHED',
  'SYN_SENT',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSE_WAIT',
  'LAST_ACK',
  'CLOSING',
];
