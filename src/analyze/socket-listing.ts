// A listing of sockets stored as flat arrays — one row of numbers per socket, its tcp_info copied
// in one call, one string per endpoint — so that listing 100,000 connections with their tcp_info
// costs no object per socket until one is asked for.

import type { TcpRow } from '../kernel/socket-row.ts';
import { addressKey, localAddress, remoteAddress, toSocket } from '../kernel/socket-row.ts';
import { SKMEM_FIELDS, TCP_INFO_FIELDS, TI, newTcpInfoRecord, toTcpInfo } from '../kernel/tcp-info.ts';
import type { Family, Socket } from '../model/socket.ts';
import { stateCode } from '../model/tcp-state.ts';

/** A listed socket; LISTEN sockets carry their accept queue's maximum where it is known. */
export type ListedSocket = Socket & { acceptQueueMax?: number | null };

/** Where each number of a socket sits in its row. */
export const R = {
  state: 0,
  txQueue: 1,
  rxQueue: 2,
  timer: 3,
  timerTicks: 4,
  retransmits: 5,
  uid: 6,
  timeout: 7,
  inode: 8,
  localPort: 9,
  remotePort: 10,
  acceptQueueMax: 11,
} as const;
const ROW_FIELDS = 12;

const LISTEN = stateCode('LISTEN');

// tcp_info is kept in two arrays: its 64-bit counters as doubles, every other field (32 bits or
// less) as a u32, which takes 40% less memory than doubles for all; a listing of many connections
// spends much of its time touching fresh memory. Fields the kernel's struct was too short to carry
// are known by count: TI follows the struct's order, so they are the last ones.
const WIDE_FIELDS: number[] = [
  TI.pacingRate,
  TI.bytesAcked,
  TI.bytesReceived,
  TI.deliveryRate,
  TI.busyUs,
  TI.rwndLimitedUs,
  TI.sndbufLimitedUs,
  TI.bytesSent,
  TI.bytesRetrans,
];
const INFO_WIDE = WIDE_FIELDS.length;
const INFO_NARROW = TCP_INFO_FIELDS - INFO_WIDE;
/** For each TI field, its place in the wide array (>= 0) or, as ~place, in the narrow one. */
const INFO_SLOT = new Int8Array(TCP_INFO_FIELDS);
for (let f = 0, wide = 0, narrow = 0; f < TCP_INFO_FIELDS; f++)
  INFO_SLOT[f] = WIDE_FIELDS.includes(f) ? wide++ : ~narrow++;

// Sockets are kept in blocks: a listing grows without copying what it already holds.
const BLOCK_BITS = 12;
const BLOCK = 1 << BLOCK_BITS;
const MASK = BLOCK - 1;

export class SocketListing {
  length = 0;
  private readonly rowBlocks: Float64Array[] = [];
  private readonly infoWideBlocks: Float64Array[] = [];
  private readonly infoNarrowBlocks: Uint32Array[] = [];
  /** Per socket, how many TI fields its tcp_info carried (the rest are NaN). */
  private readonly infoCountBlocks: Uint8Array[] = [];
  private readonly skmemBlocks: Float64Array[] = [];
  private readonly flagBlocks: Uint8Array[] = [];
  readonly family: Family[] = [];
  readonly local: string[] = [];
  readonly remote: string[] = [];
  readonly congestion: string[] = [];
  readonly withInfo: boolean;
  // Most sockets share a few addresses (this host's, a few peers'): format each once.
  private readonly addressText = new Map<string | number, string>();

  constructor(withInfo: boolean) {
    this.withInfo = withInfo;
  }

  add(r: TcpRow): void {
    const i = this.length++;
    const at = i & MASK;
    if (at === 0) {
      this.rowBlocks.push(new Float64Array(BLOCK * ROW_FIELDS));
      this.flagBlocks.push(new Uint8Array(BLOCK));
      if (this.withInfo) {
        this.infoWideBlocks.push(new Float64Array(BLOCK * INFO_WIDE));
        this.infoNarrowBlocks.push(new Uint32Array(BLOCK * INFO_NARROW));
        this.infoCountBlocks.push(new Uint8Array(BLOCK));
        this.skmemBlocks.push(new Float64Array(BLOCK * SKMEM_FIELDS));
      }
    }
    const b = i >>> BLOCK_BITS;
    const rows = this.rowBlocks[b]!;
    const o = at * ROW_FIELDS;
    rows[o + R.state] = r.state;
    rows[o + R.txQueue] = r.txQueue;
    rows[o + R.rxQueue] = r.rxQueue;
    rows[o + R.timer] = r.timer;
    rows[o + R.timerTicks] = r.timerTicks;
    rows[o + R.retransmits] = r.retransmits;
    rows[o + R.uid] = r.uid;
    rows[o + R.timeout] = r.timeout;
    rows[o + R.inode] = r.inode;
    rows[o + R.localPort] = r.localPort;
    rows[o + R.remotePort] = r.remotePort;
    rows[o + R.acceptQueueMax] = r.acceptQueueMax;
    this.family.push(r.family);
    this.local.push(this.address(r, r.localAt, localAddress));
    this.remote.push(this.address(r, r.remoteAt, remoteAddress));
    const rec = r.info;
    if (this.withInfo && r.hasInfo && rec) {
      let flags = HAS_INFO;
      const v = rec.values;
      const wide = this.infoWideBlocks[b]!;
      const narrow = this.infoNarrowBlocks[b]!;
      let w = at * INFO_WIDE;
      let n = at * INFO_NARROW;
      for (let f = 0; f < TCP_INFO_FIELDS; f++) {
        if (INFO_SLOT[f]! >= 0) wide[w++] = v[f]!;
        else narrow[n++] = v[f]!;
      }
      let count = TCP_INFO_FIELDS;
      while (count > 0 && Number.isNaN(v[count - 1])) count--;
      this.infoCountBlocks[b]![at] = count;
      if (rec.hasSkmem) {
        flags |= HAS_SKMEM;
        this.skmemBlocks[b]!.set(rec.skmem, at * SKMEM_FIELDS);
      }
      this.flagBlocks[b]![at] = flags;
      this.congestion.push(rec.congestion);
    } else {
      this.congestion.push('');
    }
  }

  private address(r: TcpRow, at: number, format: (r: TcpRow) => string): string {
    const key = addressKey(r, at);
    let text = this.addressText.get(key);
    if (text === undefined) {
      text = format(r);
      this.addressText.set(key, text);
    }
    return text;
  }

  /** A number of socket i's row (R names the positions). */
  get(i: number, field: number): number {
    return this.rowBlocks[i >>> BLOCK_BITS]![(i & MASK) * ROW_FIELDS + field]!;
  }

  set(i: number, field: number, value: number): void {
    this.rowBlocks[i >>> BLOCK_BITS]![(i & MASK) * ROW_FIELDS + field] = value;
  }

  hasInfo(i: number): boolean {
    return (this.flagBlocks[i >>> BLOCK_BITS]![i & MASK]! & HAS_INFO) !== 0;
  }

  hasSkmem(i: number): boolean {
    return (this.flagBlocks[i >>> BLOCK_BITS]![i & MASK]! & HAS_SKMEM) !== 0;
  }

  /** A tcp_info number of socket i (tcp-info.ts's TI names the positions); NaN without tcp_info. */
  infoValue(i: number, field: number): number {
    const b = i >>> BLOCK_BITS;
    const at = i & MASK;
    if ((this.flagBlocks[b]![at]! & HAS_INFO) === 0 || field >= this.infoCountBlocks[b]![at]!) return NaN;
    const slot = INFO_SLOT[field]!;
    return slot >= 0
      ? this.infoWideBlocks[b]![at * INFO_WIDE + slot]!
      : this.infoNarrowBlocks[b]![at * INFO_NARROW + ~slot]!;
  }

  skmemValue(i: number, field: number): number {
    return this.hasSkmem(i) ? this.skmemBlocks[i >>> BLOCK_BITS]![(i & MASK) * SKMEM_FIELDS + field]! : NaN;
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
      family: this.family[i]!,
      state: g(R.state),
      localPort: g(R.localPort),
      remotePort: g(R.remotePort),
      txQueue: g(R.txQueue),
      rxQueue: g(R.rxQueue),
      timer: g(R.timer),
      timerTicks: g(R.timerTicks),
      retransmits: g(R.retransmits),
      uid: g(R.uid),
      timeout: g(R.timeout),
      inode: g(R.inode),
      // Addresses come from the stored strings below.
      buf: EMPTY,
      addressHex: false,
      localAt: 0,
      remoteAt: 0,
      acceptQueueMax: g(R.acceptQueueMax),
      info: undefined,
      hasInfo: false,
    };
    const s: ListedSocket = toSocket(row);
    s.local.address = this.local[i]!;
    s.remote.address = this.remote[i]!;
    if (row.state === LISTEN) s.acceptQueueMax = row.acceptQueueMax >= 0 ? row.acceptQueueMax : null;
    if (this.hasInfo(i)) {
      const rec = newTcpInfoRecord();
      for (let f = 0; f < TCP_INFO_FIELDS; f++) rec.values[f] = this.infoValue(i, f);
      rec.hasSkmem = this.hasSkmem(i);
      for (let f = 0; rec.hasSkmem && f < SKMEM_FIELDS; f++) rec.skmem[f] = this.skmemValue(i, f);
      rec.congestion = this.congestion[i]!;
      s.info = toTcpInfo(rec);
    }
    return s;
  }
}

const EMPTY = new Uint8Array(32);
const HAS_INFO = 1;
const HAS_SKMEM = 2;
