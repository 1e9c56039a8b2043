// A listing of sockets stored as flat arrays — one row of numbers per socket, its tcp_info copied
// in one call, one string per endpoint — so that listing 100,000 connections with their tcp_info
// costs no object per socket until one is asked for.

import type { TcpRow } from '../kernel/socket-row.ts';
import { localAddress, remoteAddress, toSocket } from '../kernel/socket-row.ts';
import { SKMEM_FIELDS, TCP_INFO_FIELDS, newTcpInfoRecord, toTcpInfo } from '../kernel/tcp-info.ts';
import type { Family, Socket } from '../model/socket.ts';
import { stateCode, stateName } from '../model/tcp-state.ts';

/** A listed socket; LISTEN sockets carry their accept queue's maximum where it is known. */
export type ListedSocket = Socket & { acceptQueueMax?: number | null };

/** Where each number of a socket sits in its row of `rows`. */
export const R = {
  state: 0, txQueue: 1, rxQueue: 2, timer: 3, timerTicks: 4, retransmits: 5, uid: 6, timeout: 7,
  inode: 8, localPort: 9, remotePort: 10, acceptQueueMax: 11,
} as const;
const ROW_FIELDS = 12;

const LISTEN = stateCode('LISTEN');

export class SocketListing {
  length = 0;
  private capacity = 1024;
  rows = new Float64Array(this.capacity * ROW_FIELDS);
  /** TCP_INFO_FIELDS numbers per socket, at the positions tcp-info.ts's TI names. */
  info: Float64Array;
  /** SKMEM_FIELDS numbers per socket. */
  skmem: Float64Array;
  /** 1 where the socket carried tcp_info (and skmem). */
  hasInfo = new Uint8Array(this.capacity);
  hasSkmem = new Uint8Array(this.capacity);
  readonly family: Family[] = [];
  readonly local: string[] = [];
  readonly remote: string[] = [];
  readonly congestion: string[] = [];
  /** "command/pid" by position, when owners were resolved. */
  readonly owner: (string | undefined)[] = [];
  readonly withInfo: boolean;

  constructor(withInfo: boolean) {
    this.withInfo = withInfo;
    this.info = new Float64Array(withInfo ? this.capacity * TCP_INFO_FIELDS : 0);
    this.skmem = new Float64Array(withInfo ? this.capacity * SKMEM_FIELDS : 0);
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const grown = <T extends Float64Array | Uint8Array>(a: T, per: number, make: (n: number) => T): T => {
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    const f64 = (n: number) => new Float64Array(n);
    const u8 = (n: number) => new Uint8Array(n);
    this.rows = grown(this.rows, ROW_FIELDS, f64);
    if (this.withInfo) {
      this.info = grown(this.info, TCP_INFO_FIELDS, f64);
      this.skmem = grown(this.skmem, SKMEM_FIELDS, f64);
    }
    this.hasInfo = grown(this.hasInfo, 1, u8);
    this.hasSkmem = grown(this.hasSkmem, 1, u8);
    this.capacity = cap;
  }

  add(r: TcpRow): void {
    if (this.length === this.capacity) this.grow();
    const i = this.length++;
    const rows = this.rows;
    const at = i * ROW_FIELDS;
    rows[at + R.state] = r.state;
    rows[at + R.txQueue] = r.txQueue;
    rows[at + R.rxQueue] = r.rxQueue;
    rows[at + R.timer] = r.timer;
    rows[at + R.timerTicks] = r.timerTicks;
    rows[at + R.retransmits] = r.retransmits;
    rows[at + R.uid] = r.uid;
    rows[at + R.timeout] = r.timeout;
    rows[at + R.inode] = r.inode;
    rows[at + R.localPort] = r.localPort;
    rows[at + R.remotePort] = r.remotePort;
    rows[at + R.acceptQueueMax] = r.acceptQueueMax;
    this.family.push(r.family);
    this.local.push(localAddress(r));
    this.remote.push(remoteAddress(r));
    const rec = r.info;
    if (this.withInfo && r.hasInfo && rec) {
      this.hasInfo[i] = 1;
      this.info.set(rec.values, i * TCP_INFO_FIELDS);
      if (rec.hasSkmem) {
        this.hasSkmem[i] = 1;
        this.skmem.set(rec.skmem, i * SKMEM_FIELDS);
      }
      this.congestion.push(rec.congestion);
    } else {
      this.congestion.push('');
    }
  }

  /** A number of socket i's row (R names the positions). */
  get(i: number, field: number): number {
    return this.rows[i * ROW_FIELDS + field]!;
  }

  set(i: number, field: number, value: number): void {
    this.rows[i * ROW_FIELDS + field] = value;
  }

  /** A tcp_info number of socket i (tcp-info.ts's TI names the positions); NaN without tcp_info. */
  infoValue(i: number, field: number): number {
    return this.hasInfo[i] ? this.info[i * TCP_INFO_FIELDS + field]! : NaN;
  }

  skmemValue(i: number, field: number): number {
    return this.hasSkmem[i] ? this.skmem[i * SKMEM_FIELDS + field]! : NaN;
  }

  /** Positions in `compare` order (stable), all of them or the first `top`. */
  order(compare?: (a: number, b: number) => number, top?: number): Uint32Array {
    const all = new Uint32Array(this.length);
    for (let i = 0; i < all.length; i++) all[i] = i;
    if (compare) all.sort(compare);
    return top === undefined || top >= all.length ? all : all.slice(0, top);
  }

  /** The socket at position i as an object (for JSON and the library). */
  socket(i: number): ListedSocket {
    const g = (f: number) => this.get(i, f);
    const row: TcpRow = {
      family: this.family[i]!, state: g(R.state), localPort: g(R.localPort), remotePort: g(R.remotePort),
      txQueue: g(R.txQueue), rxQueue: g(R.rxQueue), timer: g(R.timer), timerTicks: g(R.timerTicks),
      retransmits: g(R.retransmits), uid: g(R.uid), timeout: g(R.timeout), inode: g(R.inode),
      // Addresses come from the stored strings below.
      buf: EMPTY, addressHex: false, localAt: 0, remoteAt: 0, acceptQueueMax: g(R.acceptQueueMax), info: undefined, hasInfo: false,
    };
    const s: ListedSocket = toSocket(row);
    s.local.address = this.local[i]!;
    s.remote.address = this.remote[i]!;
    if (row.state === LISTEN) s.acceptQueueMax = row.acceptQueueMax >= 0 ? row.acceptQueueMax : null;
    if (this.hasInfo[i]) {
      const rec = newTcpInfoRecord();
      rec.values.set(this.info.subarray(i * TCP_INFO_FIELDS, (i + 1) * TCP_INFO_FIELDS));
      rec.hasSkmem = this.hasSkmem[i] === 1;
      if (rec.hasSkmem) rec.skmem.set(this.skmem.subarray(i * SKMEM_FIELDS, (i + 1) * SKMEM_FIELDS));
      rec.congestion = this.congestion[i]!;
      s.info = toTcpInfo(rec);
    }
    return s;
  }

  stateName(i: number): string {
    return stateName(this.get(i, R.state));
  }
}

const EMPTY = new Uint8Array(32);
