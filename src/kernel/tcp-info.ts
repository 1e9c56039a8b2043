// struct tcp_info, socket memory (skmem) and the congestion algorithm as inet_diag attaches them to
// a socket: a reused numeric record, its pure decoders, and the copy that JSON output carries.

import { endianness } from 'node:os';
import type { TcpInfo } from '../model/socket.ts';

/**
 * The numbers of one socket's tcp_info, in the kernel's units (microseconds, bytes, segments).
 * NaN marks a field this kernel's tcp_info is too short to carry. Reused for every socket.
 */
export interface TcpInfoRecord {
  caState: number;
  retransmits: number;
  probes: number;
  backoff: number;
  sndWscale: number;
  rcvWscale: number;
  rtoUs: number;
  atoUs: number;
  sndMss: number;
  rcvMss: number;
  unacked: number;
  sacked: number;
  lost: number;
  retransOut: number;
  lastDataSentMs: number;
  lastDataRecvMs: number;
  lastAckRecvMs: number;
  pmtu: number;
  rcvSsthresh: number;
  rttUs: number;
  rttVarUs: number;
  sndSsthresh: number;
  sndCwnd: number;
  advMss: number;
  reordering: number;
  rcvRttUs: number;
  rcvSpace: number;
  totalRetrans: number;
  /** Bytes per second. */
  pacingRate: number;
  bytesAcked: number;
  bytesReceived: number;
  segsOut: number;
  segsIn: number;
  notsentBytes: number;
  minRttUs: number;
  dataSegsIn: number;
  dataSegsOut: number;
  /** Bytes per second. */
  deliveryRate: number;
  busyUs: number;
  rwndLimitedUs: number;
  sndbufLimitedUs: number;
  delivered: number;
  bytesSent: number;
  bytesRetrans: number;
  sndWnd: number;
  rcvWnd: number;
  /** INET_DIAG_SKMEMINFO, in the kernel's order (SK_MEMINFO_*), NaN when absent. */
  skmem: Float64Array;
  hasSkmem: boolean;
  /** INET_DIAG_CONG, '' when absent. */
  congestion: string;
}

export function newTcpInfoRecord(): TcpInfoRecord {
  return {
    caState: NaN, retransmits: NaN, probes: NaN, backoff: NaN, sndWscale: NaN, rcvWscale: NaN,
    rtoUs: NaN, atoUs: NaN, sndMss: NaN, rcvMss: NaN, unacked: NaN, sacked: NaN, lost: NaN,
    retransOut: NaN, lastDataSentMs: NaN, lastDataRecvMs: NaN, lastAckRecvMs: NaN, pmtu: NaN,
    rcvSsthresh: NaN, rttUs: NaN, rttVarUs: NaN, sndSsthresh: NaN, sndCwnd: NaN, advMss: NaN,
    reordering: NaN, rcvRttUs: NaN, rcvSpace: NaN, totalRetrans: NaN, pacingRate: NaN,
    bytesAcked: NaN, bytesReceived: NaN, segsOut: NaN, segsIn: NaN, notsentBytes: NaN,
    minRttUs: NaN, dataSegsIn: NaN, dataSegsOut: NaN, deliveryRate: NaN, busyUs: NaN,
    rwndLimitedUs: NaN, sndbufLimitedUs: NaN, delivered: NaN, bytesSent: NaN, bytesRetrans: NaN,
    sndWnd: NaN, rcvWnd: NaN, skmem: new Float64Array(SKMEM_FIELDS).fill(NaN), hasSkmem: false,
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
  rec.caState = f8(b, at, len, 1);
  rec.retransmits = f8(b, at, len, 2);
  rec.probes = f8(b, at, len, 3);
  rec.backoff = f8(b, at, len, 4);
  const wscale = f8(b, at, len, 6);
  rec.sndWscale = wscale & 15;
  rec.rcvWscale = wscale >> 4;
  rec.rtoUs = f32(b, at, len, 8);
  rec.atoUs = f32(b, at, len, 12);
  rec.sndMss = f32(b, at, len, 16);
  rec.rcvMss = f32(b, at, len, 20);
  rec.unacked = f32(b, at, len, 24);
  rec.sacked = f32(b, at, len, 28);
  rec.lost = f32(b, at, len, 32);
  rec.retransOut = f32(b, at, len, 36);
  rec.lastDataSentMs = f32(b, at, len, 44);
  rec.lastDataRecvMs = f32(b, at, len, 52);
  rec.lastAckRecvMs = f32(b, at, len, 56);
  rec.pmtu = f32(b, at, len, 60);
  rec.rcvSsthresh = f32(b, at, len, 64);
  rec.rttUs = f32(b, at, len, 68);
  rec.rttVarUs = f32(b, at, len, 72);
  rec.sndSsthresh = f32(b, at, len, 76);
  rec.sndCwnd = f32(b, at, len, 80);
  rec.advMss = f32(b, at, len, 84);
  rec.reordering = f32(b, at, len, 88);
  rec.rcvRttUs = f32(b, at, len, 92);
  rec.rcvSpace = f32(b, at, len, 96);
  rec.totalRetrans = f32(b, at, len, 100);
  rec.pacingRate = f64(b, at, len, 104);
  rec.bytesAcked = f64(b, at, len, 120);
  rec.bytesReceived = f64(b, at, len, 128);
  rec.segsOut = f32(b, at, len, 136);
  rec.segsIn = f32(b, at, len, 140);
  rec.notsentBytes = f32(b, at, len, 144);
  rec.minRttUs = f32(b, at, len, 148);
  rec.dataSegsIn = f32(b, at, len, 152);
  rec.dataSegsOut = f32(b, at, len, 156);
  rec.deliveryRate = f64(b, at, len, 160);
  rec.busyUs = f64(b, at, len, 168);
  rec.rwndLimitedUs = f64(b, at, len, 176);
  rec.sndbufLimitedUs = f64(b, at, len, 184);
  rec.delivered = f32(b, at, len, 192);
  rec.bytesSent = f64(b, at, len, 200);
  rec.bytesRetrans = f64(b, at, len, 208);
  rec.sndWnd = f32(b, at, len, 228);
  rec.rcvWnd = f32(b, at, len, 232);
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
const INFINITE_SSTHRESH = 0x7fffffff;

const num = (v: number) => (Number.isNaN(v) ? null : v);
const ms = (us: number) => (Number.isNaN(us) ? null : us / 1000);
const bits = (bytesPerSec: number) => (Number.isNaN(bytesPerSec) ? null : bytesPerSec * 8);

/** Copy a record into the JSON shape (model/socket.ts TcpInfo). */
export function toTcpInfo(r: TcpInfoRecord): TcpInfo {
  const info: TcpInfo = {
    rttMs: ms(r.rttUs),
    rttVarMs: ms(r.rttVarUs),
    minRttMs: ms(r.minRttUs),
    rtoMs: ms(r.rtoUs),
    cwnd: num(r.sndCwnd),
    ssthresh: r.sndSsthresh >= INFINITE_SSTHRESH ? null : num(r.sndSsthresh),
    mss: num(r.sndMss),
    retransmits: num(r.retransmits),
    totalRetrans: num(r.totalRetrans),
    lost: num(r.lost),
    unacked: num(r.unacked),
    bytesSent: num(r.bytesSent),
    bytesAcked: num(r.bytesAcked),
    bytesReceived: num(r.bytesReceived),
    bytesRetrans: num(r.bytesRetrans),
    segsOut: num(r.segsOut),
    segsIn: num(r.segsIn),
    notsentBytes: num(r.notsentBytes),
    deliveryRateBps: bits(r.deliveryRate),
    pacingRateBps: r.pacingRate === 2 ** 64 - 1 ? null : bits(r.pacingRate),
    busyMs: ms(r.busyUs),
    rwndLimitedMs: ms(r.rwndLimitedUs),
    sndbufLimitedMs: ms(r.sndbufLimitedUs),
    lastSendMs: num(r.lastDataSentMs),
    lastRecvMs: num(r.lastDataRecvMs),
    lastAckMs: num(r.lastAckRecvMs),
    sndWnd: num(r.sndWnd),
    rcvWnd: num(r.rcvWnd),
    rcvSpace: num(r.rcvSpace),
    congestion: r.congestion === '' ? null : r.congestion,
  };
  if (r.hasSkmem) {
    const m = r.skmem;
    info.skmem = {
      rmemAlloc: num(m[0]!), rcvBuf: num(m[1]!), wmemAlloc: num(m[2]!), sndBuf: num(m[3]!),
      fwdAlloc: num(m[4]!), wmemQueued: num(m[5]!), optMem: num(m[6]!), backlog: num(m[7]!), drops: num(m[8]!),
    };
  }
  return info;
}
