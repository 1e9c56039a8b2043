// struct tcp_info, socket memory (skmem) and the congestion algorithm as inet_diag attaches them to
// a socket: a reused numeric record, its pure decoders, and the copy that JSON output carries.

import { endianness } from 'node:os';
import type { TcpInfo } from '../model/socket.ts';

/** Where each tcp_info number sits in a record's `values` (and in each row of a listing). */
export const TI = {
  caState: 0,
  retransmits: 1,
  probes: 2,
  backoff: 3,
  sndWscale: 4,
  rcvWscale: 5,
  rtoUs: 6,
  atoUs: 7,
  sndMss: 8,
  rcvMss: 9,
  unacked: 10,
  sacked: 11,
  lost: 12,
  retransOut: 13,
  lastDataSentMs: 14,
  lastDataRecvMs: 15,
  lastAckRecvMs: 16,
  pmtu: 17,
  rcvSsthresh: 18,
  rttUs: 19,
  rttVarUs: 20,
  sndSsthresh: 21,
  sndCwnd: 22,
  advMss: 23,
  reordering: 24,
  rcvRttUs: 25,
  rcvSpace: 26,
  totalRetrans: 27,
  pacingRate: 28,
  bytesAcked: 29,
  bytesReceived: 30,
  segsOut: 31,
  segsIn: 32,
  notsentBytes: 33,
  minRttUs: 34,
  dataSegsIn: 35,
  dataSegsOut: 36,
  deliveryRate: 37,
  busyUs: 38,
  rwndLimitedUs: 39,
  sndbufLimitedUs: 40,
  delivered: 41,
  bytesSent: 42,
  bytesRetrans: 43,
  sndWnd: 44,
  rcvWnd: 45,
} as const;

export const TCP_INFO_FIELDS = 46;

/**
 * The numbers of one socket's tcp_info, in the kernel's units (microseconds, bytes, segments; rates
 * in bytes per second), at the positions TI names. NaN marks a field this kernel's tcp_info is too
 * short to carry. Reused for every socket; a flat array so a listing copies it in one call.
 */
export interface TcpInfoRecord {
  values: Float64Array;
  /** INET_DIAG_SKMEMINFO, in the kernel's order (SK_MEMINFO_*), NaN when absent. */
  skmem: Float64Array;
  hasSkmem: boolean;
  /** INET_DIAG_CONG, '' when absent. */
  congestion: string;
}

export function newTcpInfoRecord(): TcpInfoRecord {
  return {
    values: new Float64Array(TCP_INFO_FIELDS).fill(NaN),
    skmem: new Float64Array(SKMEM_FIELDS).fill(NaN),
    hasSkmem: false,
    congestion: '',
  };
}

const LE = endianness() === 'LE';

function u32(b: Uint8Array, at: number): number {
  return LE
    ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function u64(b: Uint8Array, at: number): number {
  const lo = u32(b, LE ? at : at + 4);
  const hi = u32(b, LE ? at + 4 : at);
  return hi * 4294967296 + lo;
}

// A field of tcp_info at `off`, or NaN when the kernel's struct ends before it. Plain functions,
// not closures: this runs once per socket.
function f8(b: Uint8Array, at: number, len: number, off: number): number {
  return off + 1 <= len ? b[at + off]! : NaN;
}
function f32(b: Uint8Array, at: number, len: number, off: number): number {
  return off + 4 <= len ? u32(b, at + off) : NaN;
}
function f64(b: Uint8Array, at: number, len: number, off: number): number {
  return off + 8 <= len ? u64(b, at + off) : NaN;
}

/**
 * Decode struct tcp_info (include/uapi/linux/tcp.h) of `len` bytes at `at` into rec. Older kernels
 * send a shorter struct: fields past its end become NaN.
 */
export function parseTcpInfo(b: Uint8Array, at: number, len: number, rec: TcpInfoRecord): void {
  const w = len >= FULL_TCP_INFO && (at & 3) === 0 ? hostWords(b) : undefined;
  if (w) parseFullTcpInfo(b, w, at, rec);
  else parseShortTcpInfo(b, at, len, rec);
}

let viewed: Uint8Array | undefined;
let view: Uint32Array | undefined;

/**
 * The bytes as 32-bit words in host order (netlink's order) when they start 4-aligned, as a recv
 * buffer does; undefined otherwise. One word is one load, where four bytes and their shifts are nine
 * operations. The last view is kept: a dump reads every message from one buffer.
 */
export function hostWords(b: Uint8Array): Uint32Array | undefined {
  if (b !== viewed) {
    viewed = b;
    view = (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2) : undefined;
  }
  return view;
}

/** Bytes of every field this parser knows, up to tcpi_rcv_wnd: a struct this long needs no check per field. */
const FULL_TCP_INFO = 236;

const HI = 4294967296;

function parseFullTcpInfo(b: Uint8Array, w: Uint32Array, at: number, rec: TcpInfoRecord): void {
  const v = rec.values;
  const i = at >>> 2;
  // A u64 is two words, the low one first on a little-endian host.
  const lo = LE ? 0 : 1;
  const hi = 1 - lo;
  v[TI.caState] = b[at + 1]!;
  v[TI.retransmits] = b[at + 2]!;
  v[TI.probes] = b[at + 3]!;
  v[TI.backoff] = b[at + 4]!;
  const wscale = b[at + 6]!;
  v[TI.sndWscale] = wscale & 15;
  v[TI.rcvWscale] = wscale >> 4;
  v[TI.rtoUs] = w[i + 2]!;
  v[TI.atoUs] = w[i + 3]!;
  v[TI.sndMss] = w[i + 4]!;
  v[TI.rcvMss] = w[i + 5]!;
  v[TI.unacked] = w[i + 6]!;
  v[TI.sacked] = w[i + 7]!;
  v[TI.lost] = w[i + 8]!;
  v[TI.retransOut] = w[i + 9]!;
  v[TI.lastDataSentMs] = w[i + 11]!;
  v[TI.lastDataRecvMs] = w[i + 13]!;
  v[TI.lastAckRecvMs] = w[i + 14]!;
  v[TI.pmtu] = w[i + 15]!;
  v[TI.rcvSsthresh] = w[i + 16]!;
  v[TI.rttUs] = w[i + 17]!;
  v[TI.rttVarUs] = w[i + 18]!;
  v[TI.sndSsthresh] = w[i + 19]!;
  v[TI.sndCwnd] = w[i + 20]!;
  v[TI.advMss] = w[i + 21]!;
  v[TI.reordering] = w[i + 22]!;
  v[TI.rcvRttUs] = w[i + 23]!;
  v[TI.rcvSpace] = w[i + 24]!;
  v[TI.totalRetrans] = w[i + 25]!;
  v[TI.pacingRate] = w[i + 26 + lo]! + w[i + 26 + hi]! * HI;
  v[TI.bytesAcked] = w[i + 30 + lo]! + w[i + 30 + hi]! * HI;
  v[TI.bytesReceived] = w[i + 32 + lo]! + w[i + 32 + hi]! * HI;
  v[TI.segsOut] = w[i + 34]!;
  v[TI.segsIn] = w[i + 35]!;
  v[TI.notsentBytes] = w[i + 36]!;
  v[TI.minRttUs] = w[i + 37]!;
  v[TI.dataSegsIn] = w[i + 38]!;
  v[TI.dataSegsOut] = w[i + 39]!;
  v[TI.deliveryRate] = w[i + 40 + lo]! + w[i + 40 + hi]! * HI;
  v[TI.busyUs] = w[i + 42 + lo]! + w[i + 42 + hi]! * HI;
  v[TI.rwndLimitedUs] = w[i + 44 + lo]! + w[i + 44 + hi]! * HI;
  v[TI.sndbufLimitedUs] = w[i + 46 + lo]! + w[i + 46 + hi]! * HI;
  v[TI.delivered] = w[i + 48]!;
  v[TI.bytesSent] = w[i + 50 + lo]! + w[i + 50 + hi]! * HI;
  v[TI.bytesRetrans] = w[i + 52 + lo]! + w[i + 52 + hi]! * HI;
  v[TI.sndWnd] = w[i + 57]!;
  v[TI.rcvWnd] = w[i + 58]!;
}

// An older kernel's shorter struct (or bytes not 4-aligned): each field checked against the length.
function parseShortTcpInfo(b: Uint8Array, at: number, len: number, rec: TcpInfoRecord): void {
  const v = rec.values;
  v[TI.caState] = f8(b, at, len, 1);
  v[TI.retransmits] = f8(b, at, len, 2);
  v[TI.probes] = f8(b, at, len, 3);
  v[TI.backoff] = f8(b, at, len, 4);
  const wscale = f8(b, at, len, 6);
  v[TI.sndWscale] = wscale & 15;
  v[TI.rcvWscale] = wscale >> 4;
  v[TI.rtoUs] = f32(b, at, len, 8);
  v[TI.atoUs] = f32(b, at, len, 12);
  v[TI.sndMss] = f32(b, at, len, 16);
  v[TI.rcvMss] = f32(b, at, len, 20);
  v[TI.unacked] = f32(b, at, len, 24);
  v[TI.sacked] = f32(b, at, len, 28);
  v[TI.lost] = f32(b, at, len, 32);
  v[TI.retransOut] = f32(b, at, len, 36);
  v[TI.lastDataSentMs] = f32(b, at, len, 44);
  v[TI.lastDataRecvMs] = f32(b, at, len, 52);
  v[TI.lastAckRecvMs] = f32(b, at, len, 56);
  v[TI.pmtu] = f32(b, at, len, 60);
  v[TI.rcvSsthresh] = f32(b, at, len, 64);
  v[TI.rttUs] = f32(b, at, len, 68);
  v[TI.rttVarUs] = f32(b, at, len, 72);
  v[TI.sndSsthresh] = f32(b, at, len, 76);
  v[TI.sndCwnd] = f32(b, at, len, 80);
  v[TI.advMss] = f32(b, at, len, 84);
  v[TI.reordering] = f32(b, at, len, 88);
  v[TI.rcvRttUs] = f32(b, at, len, 92);
  v[TI.rcvSpace] = f32(b, at, len, 96);
  v[TI.totalRetrans] = f32(b, at, len, 100);
  v[TI.pacingRate] = f64(b, at, len, 104);
  v[TI.bytesAcked] = f64(b, at, len, 120);
  v[TI.bytesReceived] = f64(b, at, len, 128);
  v[TI.segsOut] = f32(b, at, len, 136);
  v[TI.segsIn] = f32(b, at, len, 140);
  v[TI.notsentBytes] = f32(b, at, len, 144);
  v[TI.minRttUs] = f32(b, at, len, 148);
  v[TI.dataSegsIn] = f32(b, at, len, 152);
  v[TI.dataSegsOut] = f32(b, at, len, 156);
  v[TI.deliveryRate] = f64(b, at, len, 160);
  v[TI.busyUs] = f64(b, at, len, 168);
  v[TI.rwndLimitedUs] = f64(b, at, len, 176);
  v[TI.sndbufLimitedUs] = f64(b, at, len, 184);
  v[TI.delivered] = f32(b, at, len, 192);
  v[TI.bytesSent] = f64(b, at, len, 200);
  v[TI.bytesRetrans] = f64(b, at, len, 208);
  v[TI.sndWnd] = f32(b, at, len, 228);
  v[TI.rcvWnd] = f32(b, at, len, 232);
}

/** SK_MEMINFO_* (include/uapi/linux/sock_diag.h): rmem_alloc, rcvbuf, wmem_alloc, sndbuf, fwd_alloc, wmem_queued, optmem, backlog, drops. */
export const SKMEM_FIELDS = 9;

/** Decode INET_DIAG_SKMEMINFO (an array of u32) of `len` bytes at `at`. */
export function parseSkmem(b: Uint8Array, at: number, len: number, rec: TcpInfoRecord): void {
  for (let i = 0; i < SKMEM_FIELDS; i++) rec.skmem[i] = (i + 1) * 4 <= len ? u32(b, at + i * 4) : NaN;
  rec.hasSkmem = true;
}

/** Decode INET_DIAG_CONG, a NUL-terminated name; the last name is kept to avoid a string per socket. */
export function parseCongestion(b: Uint8Array, at: number, len: number, rec: TcpInfoRecord): void {
  let end = at;
  while (end < at + len && b[end] !== 0) end++;
  const prev = rec.congestion;
  if (prev.length === end - at) {
    let same = true;
    for (let i = 0; i < prev.length; i++) if (prev.charCodeAt(i) !== b[at + i]) same = false;
    if (same) return;
  }
  rec.congestion = String.fromCharCode(...b.subarray(at, end));
}

/** Kernel's "no threshold yet" (TCP_INFINITE_SSTHRESH). */
export const INFINITE_SSTHRESH = 0x7fffffff;

const num = (v: number) => (Number.isNaN(v) ? null : v);
const ms = (us: number) => (Number.isNaN(us) ? null : us / 1000);
const bits = (bytesPerSec: number) => (Number.isNaN(bytesPerSec) ? null : bytesPerSec * 8);

/** Copy a record into the JSON shape (model/socket.ts TcpInfo). */
export function toTcpInfo(r: TcpInfoRecord): TcpInfo {
  const v = r.values;
  const info: TcpInfo = {
    rttMs: ms(v[TI.rttUs]!),
    rttVarMs: ms(v[TI.rttVarUs]!),
    minRttMs: ms(v[TI.minRttUs]!),
    rtoMs: ms(v[TI.rtoUs]!),
    cwnd: num(v[TI.sndCwnd]!),
    ssthresh: v[TI.sndSsthresh]! >= INFINITE_SSTHRESH ? null : num(v[TI.sndSsthresh]!),
    mss: num(v[TI.sndMss]!),
    retransmits: num(v[TI.retransmits]!),
    totalRetrans: num(v[TI.totalRetrans]!),
    lost: num(v[TI.lost]!),
    unacked: num(v[TI.unacked]!),
    bytesSent: num(v[TI.bytesSent]!),
    bytesAcked: num(v[TI.bytesAcked]!),
    bytesReceived: num(v[TI.bytesReceived]!),
    bytesRetrans: num(v[TI.bytesRetrans]!),
    segsOut: num(v[TI.segsOut]!),
    segsIn: num(v[TI.segsIn]!),
    notsentBytes: num(v[TI.notsentBytes]!),
    deliveryRateBps: bits(v[TI.deliveryRate]!),
    pacingRateBps: v[TI.pacingRate]! === 2 ** 64 - 1 ? null : bits(v[TI.pacingRate]!),
    busyMs: ms(v[TI.busyUs]!),
    rwndLimitedMs: ms(v[TI.rwndLimitedUs]!),
    sndbufLimitedMs: ms(v[TI.sndbufLimitedUs]!),
    lastSendMs: num(v[TI.lastDataSentMs]!),
    lastRecvMs: num(v[TI.lastDataRecvMs]!),
    lastAckMs: num(v[TI.lastAckRecvMs]!),
    sndWnd: num(v[TI.sndWnd]!),
    rcvWnd: num(v[TI.rcvWnd]!),
    rcvSpace: num(v[TI.rcvSpace]!),
    congestion: r.congestion === '' ? null : r.congestion,
  };
  if (r.hasSkmem) {
    const m = r.skmem;
    info.skmem = {
      rmemAlloc: num(m[0]!),
      rcvBuf: num(m[1]!),
      wmemAlloc: num(m[2]!),
      sndBuf: num(m[3]!),
      fwdAlloc: num(m[4]!),
      wmemQueued: num(m[5]!),
      optMem: num(m[6]!),
      backlog: num(m[7]!),
      drops: num(m[8]!),
    };
  }
  return info;
}
