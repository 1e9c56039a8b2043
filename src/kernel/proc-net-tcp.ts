// /proc/net/tcp and /proc/net/tcp6: a byte-level scanner (the hot path), a pure parser, a streaming reader.

import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { describeFsError } from '../errors.ts';
import type { Family, Socket, TimerKind } from '../model/socket.ts';
import { stateName } from '../model/tcp-state.ts';

/**
 * One line of the table, decoded into numbers only. The scanner reuses a single row for every
 * line, so a visitor must copy what it keeps; addresses stay as offsets into `buf` and are
 * decoded on demand (most consumers need only a few of them).
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
  timerTicks: number;
  retransmits: number;
  uid: number;
  timeout: number;
  inode: number;
  buf: Uint8Array;
  /** Offset of the local address's hex digits in buf (8 digits for IPv4, 32 for IPv6). */
  localAt: number;
  remoteAt: number;
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
    localAt: 0,
    remoteAt: 0,
  };
}

const LITTLE_ENDIAN = endianness() === 'LE';
const NL = 10;
const SP = 32;
const COLON = 58;

// Value of one hex digit character code, or -1.
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/** Result of scanning a buffer: where complete lines ended, and how many lines made no sense. */
export interface ScanResult {
  /** Bytes consumed: up to and including the last complete line (everything when `final`). */
  consumed: number;
  rows: number;
  malformed: number;
}

// Parse one line [start, end) into row; false when it is a header or does not parse. One flat
// function with local cursors: it runs once per socket, mostly before the JIT has warmed up, so
// calls and shared state cost more here than they would in steady state.
function parseLine(buf: Uint8Array, start: number, end: number, row: TcpRow, addrLen: number): boolean {
  let p = start;
  while (p < end && buf[p] === SP) p++;
  // "sl:" — the slot number, not needed
  while (p < end && buf[p] !== COLON) p++;
  p++;
  while (p < end && buf[p] === SP) p++;
  // From here the kernel prints fixed-width upper-case hex separated by one space or colon:
  // LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETRNSMT, then decimal uid, timeout and inode.
  if (p + addrLen * 2 + 54 > end) return false;
  row.localAt = p;
  p += addrLen;
  if (buf[p++] !== COLON) return false;
  let v = 0;
  let d = 0;
  let n = 0;
  // Each field below: accumulate hex digits until a non-digit; n counts digits to reject empties.
  for (n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== SP) return false;
  row.localPort = v;
  row.remoteAt = p;
  p += addrLen;
  if (buf[p++] !== COLON) return false;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== SP) return false;
  row.remotePort = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || v === 0 || buf[p++] !== SP) return false;
  row.state = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== COLON) return false;
  row.txQueue = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== SP) return false;
  row.rxQueue = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== COLON) return false;
  row.timer = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0 || buf[p++] !== SP) return false;
  row.timerTicks = v;
  for (v = 0, n = 0; (d = HEX[buf[p]!]!) >= 0; p++, n++) v = v * 16 + d;
  if (n === 0) return false;
  row.retransmits = v;
  // uid, timeout, inode: decimal, right-aligned in space-padded columns.
  while (p < end && buf[p] === SP) p++;
  for (v = 0, n = 0; p < end && (d = buf[p]! - 48) >= 0 && d <= 9; p++, n++) v = v * 10 + d;
  if (n === 0) return false;
  row.uid = v;
  while (p < end && buf[p] === SP) p++;
  for (v = 0, n = 0; p < end && (d = buf[p]! - 48) >= 0 && d <= 9; p++, n++) v = v * 10 + d;
  if (n === 0) return false;
  row.timeout = v;
  while (p < end && buf[p] === SP) p++;
  for (v = 0, n = 0; p < end && (d = buf[p]! - 48) >= 0 && d <= 9; p++, n++) v = v * 10 + d;
  if (n === 0) return false;
  row.inode = v;
  // The inode must be followed by a separator or the end of the line: a cut-off number is not a number.
  return p === end || buf[p] === SP;
}

function isHeader(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && buf[i] === SP) i++;
  return i < end && buf[i] === 115; // 's' of "sl"
}

/**
 * Scan the lines of a /proc/net/tcp{,6} text in buf[start, end), calling visit for each socket.
 * Without `final`, a trailing line with no newline is left unconsumed for the next chunk; with
 * it, that line is parsed if complete and counted as malformed if not.
 */
export function scanTcpLines(
  buf: Uint8Array,
  start: number,
  end: number,
  row: TcpRow,
  visit: (row: TcpRow) => void,
  final: boolean,
): ScanResult {
  const addrLen = row.family === 'ipv4' ? 8 : 32;
  row.buf = buf;
  let rows = 0;
  let malformed = 0;
  let lineStart = start;
  while (lineStart < end) {
    let lineEnd = buf.indexOf(NL, lineStart);
    if (lineEnd < 0 || lineEnd >= end) {
      if (!final) break;
      lineEnd = end;
    }
    if (lineEnd > lineStart && !isHeader(buf, lineStart, lineEnd)) {
      if (parseLine(buf, lineStart, lineEnd, row, addrLen)) {
        rows++;
        visit(row);
      } else if (!isBlank(buf, lineStart, lineEnd)) {
        malformed++;
      }
    }
    lineStart = lineEnd + 1;
  }
  return { consumed: Math.min(lineStart, end) - start, rows, malformed };
}

function isBlank(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== SP && buf[i] !== 13) return false;
  return true;
}

// ---- addresses ----------------------------------------------------------------------------

function hexWord(buf: Uint8Array, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) v = v * 16 + (HEX[buf[i]!]! & 15);
  return v;
}

/** The 4 bytes (IPv4) or 16 bytes (IPv6), in network order, of the address at `at`. */
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
  return formatAddress(addressBytes(row.buf, row.localAt, row.family));
}

export function remoteAddress(row: TcpRow): string {
  return formatAddress(addressBytes(row.buf, row.remoteAt, row.family));
}

/** A number that identifies the remote address+port among the rows of one scan (IPv4 only), else -1. */
export function remoteKeyV4(row: TcpRow): number {
  if (row.family !== 'ipv4') return -1;
  return hexWord(row.buf, row.remoteAt) * 65536 + row.remotePort;
}

/** The remote address's hex digits as printed by the kernel: a cheap exact key for IPv6. */
export function remoteHex(row: TcpRow): string {
  const len = row.family === 'ipv4' ? 8 : 32;
  return String.fromCharCode(...row.buf.subarray(row.remoteAt, row.remoteAt + len));
}

// ---- whole sockets ---------------------------------------------------------------------------

const TIMERS: TimerKind[] = ['none', 'retransmit', 'keepalive', 'time-wait', 'zero-window-probe'];

/** Copy a scanned row into a Socket object. */
export function toSocket(row: TcpRow): Socket {
  return {
    family: row.family,
    state: stateName(row.state),
    local: { address: localAddress(row), port: row.localPort },
    remote: { address: remoteAddress(row), port: row.remotePort },
    txQueue: row.txQueue,
    rxQueue: row.rxQueue,
    timer: TIMERS[row.timer] ?? 'unknown',
    // The kernel prints clock_t (USER_HZ = 100 on every Linux architecture we know).
    timerExpiresMs: row.timerTicks * 10,
    retransmits: row.retransmits,
    uid: row.uid,
    timeout: row.timeout,
    inode: row.inode,
  };
}

export interface ParsedTable {
  sockets: Socket[];
  malformed: number;
}

/** Parse the full text of /proc/net/tcp (family ipv4) or /proc/net/tcp6 (ipv6). Pure. */
export function parseProcNetTcp(text: string | Uint8Array, family: Family): ParsedTable {
  const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const sockets: Socket[] = [];
  const res = scanTcpLines(buf, 0, buf.length, newRow(family), (r) => sockets.push(toSocket(r)), true);
  return { sockets, malformed: res.malformed };
}

const CHUNK_BYTES = 1 << 20;
let chunk: Buffer | undefined;

/** Default paths of the two tables, overridable for tests and for other roots (TCPLENS_PROC). */
export function procNetTcpPath(family: Family, procRoot = procRootDir()): string {
  return `${procRoot}/net/${family === 'ipv4' ? 'tcp' : 'tcp6'}`;
}

export function procRootDir(): string {
  return process.env.TCPLENS_PROC ?? '/proc';
}

/**
 * Stream a /proc/net/tcp{,6} file through visit, one reused row per line, in 1 MiB reads: memory
 * stays flat however many sockets there are. A missing tcp6 (IPv6 disabled) yields no rows.
 */
export function readProcNetTcp(
  family: Family,
  visit: (row: TcpRow) => void,
  path = procNetTcpPath(family),
): ScanResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (family === 'ipv6' && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { consumed: 0, rows: 0, malformed: 0 };
    }
    throw describeFsError(err, path);
  }
  chunk ??= Buffer.allocUnsafe(CHUNK_BYTES);
  const buf = chunk;
  const row = newRow(family);
  const total: ScanResult = { consumed: 0, rows: 0, malformed: 0 };
  let filled = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, filled, buf.length - filled, null);
      } catch (err) {
        throw describeFsError(err, path);
      }
      const end = filled + n;
      const res = scanTcpLines(buf, 0, end, row, visit, n === 0);
      total.rows += res.rows;
      total.malformed += res.malformed;
      total.consumed += res.consumed;
      if (n === 0) break;
      // Keep the unfinished line at the front for the next read.
      buf.copyWithin(0, res.consumed, end);
      filled = end - res.consumed;
      if (filled === buf.length) {
        // A line longer than the whole buffer is not a /proc/net/tcp line; drop it.
        filled = 0;
        total.malformed++;
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** Read every socket of both tables as objects (for listings; summaries use the scanner). */
export function readSockets(families: Family[] = ['ipv4', 'ipv6']): ParsedTable {
  const sockets: Socket[] = [];
  let malformed = 0;
  for (const family of families) {
    malformed += readProcNetTcp(family, (r) => sockets.push(toSocket(r))).malformed;
  }
  return { sockets, malformed };
}
