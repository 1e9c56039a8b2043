// The one reused record every socket-table reader fills (/proc text or netlink messages), and the
// address helpers that read it without caring which reader filled it.

import { endianness } from 'node:os';
import type { Family, Socket, TimerKind } from '../model/socket.ts';
import { stateName } from '../model/tcp-state.ts';
import { type TcpInfoRecord, toTcpInfo } from './tcp-info.ts';

/**
 * One socket, decoded into numbers only. A reader reuses a single row for every socket, so a
 * visitor must copy what it keeps; addresses stay as offsets into `buf` and are decoded on demand
 * (most consumers need only a few of them).
 */
export interface TcpRow {
  family: Family;
  /** Kernel state code, 1..13 (see model/tcp-state.ts). */
  state: number;
  localPort: number;
  remotePort: number;
  txQueue: number;
  rxQueue: number;
  timer: number;
  /** Time until the pending timer fires, in kernel clock ticks of 10 ms. */
  timerTicks: number;
  retransmits: number;
  uid: number;
  timeout: number;
  inode: number;
  buf: Uint8Array;
  /**
   * How the addresses are stored in buf: true for the kernel's hex text of /proc/net/tcp (8 digits
   * for IPv4, 32 for IPv6, each 32-bit word in host order), false for network-order bytes (4 or 16).
   */
  addressHex: boolean;
  /** Offset of the local address in buf. */
  localAt: number;
  remoteAt: number;
  /** A listener's accept-queue maximum when the reader knows it (netlink), else -1. */
  acceptQueueMax: number;
  /** tcp_info, socket memory and congestion control, when asked for and the socket carried them. */
  info: TcpInfoRecord | undefined;
  hasInfo: boolean;
}

export function newRow(family: Family): TcpRow {
  return {
    family,
    state: 0,
    localPort: 0,
    remotePort: 0,
    txQueue: 0,
    rxQueue: 0,
    timer: 0,
    timerTicks: 0,
    retransmits: 0,
    uid: 0,
    timeout: 0,
    inode: 0,
    buf: new Uint8Array(0),
    addressHex: true,
    localAt: 0,
    remoteAt: 0,
    acceptQueueMax: -1,
    info: undefined,
    hasInfo: false,
  };
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Value of one hex digit character code, or -1. */
export const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_DIGIT[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_DIGIT[65 + i] = 10 + i;
  HEX_DIGIT[97 + i] = 10 + i;
}

function hexWord(buf: Uint8Array, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) v = v * 16 + (HEX_DIGIT[buf[i]!]! & 15);
  return v;
}

/** The 4 bytes (IPv4) or 16 bytes (IPv6), in network order, of the kernel's hex text at `at`. */
export function addressBytes(buf: Uint8Array, at: number, family: Family): Uint8Array {
  const words = family === 'ipv4' ? 1 : 4;
  const out = new Uint8Array(words * 4);
  for (let w = 0; w < words; w++) {
    const v = hexWord(buf, at + w * 8);
    const b0 = (v >>> 24) & 255;
    const b1 = (v >>> 16) & 255;
    const b2 = (v >>> 8) & 255;
    const b3 = v & 255;
    // Each 32-bit word is printed in host byte order.
    if (LITTLE_ENDIAN) out.set([b3, b2, b1, b0], w * 4);
    else out.set([b0, b1, b2, b3], w * 4);
  }
  return out;
}

/** The address bytes, in network order, at `at` in a row, whichever reader filled it. */
export function rowAddressBytes(row: TcpRow, at: number): Uint8Array {
  if (row.addressHex) return addressBytes(row.buf, at, row.family);
  return row.buf.slice(at, at + (row.family === 'ipv4' ? 4 : 16));
}

/** Format address bytes: dotted IPv4; IPv6 per RFC 5952, with IPv4-mapped shown as IPv4. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of two or more zero groups, the first one on a tie, becomes '::'.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 255 && b[11] === 255;
}

export function localAddress(row: TcpRow): string {
  return formatAddress(rowAddressBytes(row, row.localAt));
}

export function remoteAddress(row: TcpRow): string {
  return formatAddress(rowAddressBytes(row, row.remoteAt));
}

/**
 * A key that tells the address at `at` in a row from every other address of the same reader, without
 * formatting it: the 4 bytes of an IPv4 address as a number, else the bytes (or the kernel's hex
 * text, from /proc) as a string.
 */
export function addressKey(row: TcpRow, at: number): number | string {
  const buf = row.buf;
  if (row.family === 'ipv4' && !row.addressHex)
    return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  const len = row.addressHex ? (row.family === 'ipv4' ? 8 : 32) : 16;
  return String.fromCharCode.apply(null, buf.subarray(at, at + len) as unknown as number[]);
}

/** A number that identifies the remote address+port among the rows of one scan (IPv4 only), else -1. */
export function remoteKeyV4(row: TcpRow): number {
  if (row.family !== 'ipv4') return -1;
  const b = row.buf;
  const at = row.remoteAt;
  const word = row.addressHex
    ? hexWord(b, at)
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  return word * 65536 + row.remotePort;
}

/** The remote address as a short exact string key (the kernel's hex text for /proc rows). */
export function remoteHex(row: TcpRow): string {
  if (row.addressHex) {
    const len = row.family === 'ipv4' ? 8 : 32;
    return String.fromCharCode(...row.buf.subarray(row.remoteAt, row.remoteAt + len));
  }
  return Buffer.from(row.buf.buffer, row.buf.byteOffset + row.remoteAt, row.family === 'ipv4' ? 4 : 16).toString('hex');
}

/** Timer kinds by the kernel's code (the `tr` column, idiag_timer). */
export const TIMER_KINDS: readonly TimerKind[] = ['none', 'retransmit', 'keepalive', 'time-wait', 'zero-window-probe'];

/** Copy a row into a Socket object, with its tcp_info when the row carries it. */
export function toSocket(row: TcpRow): Socket {
  const socket: Socket = {
    family: row.family,
    state: stateName(row.state),
    local: { address: localAddress(row), port: row.localPort },
    remote: { address: remoteAddress(row), port: row.remotePort },
    txQueue: row.txQueue,
    rxQueue: row.rxQueue,
    timer: TIMER_KINDS[row.timer] ?? 'unknown',
    // The kernel prints clock_t (USER_HZ = 100 on every Linux architecture we know).
    timerExpiresMs: row.timerTicks * 10,
    retransmits: row.retransmits,
    uid: row.uid,
    timeout: row.timeout,
    inode: row.inode,
  };
  if (row.hasInfo && row.info) socket.info = toTcpInfo(row.info);
  return socket;
}
