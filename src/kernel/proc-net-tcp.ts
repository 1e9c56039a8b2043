// /proc/net/tcp and /proc/net/tcp6: a byte-level scanner (the hot path), a pure parser, a streaming reader.

import { closeSync, openSync, readSync } from 'node:fs';
import { describeFsError } from '../errors.ts';
import type { Family, Socket } from '../model/socket.ts';
import { HEX_DIGIT as HEX, type TcpRow, newRow, toSocket } from './socket-row.ts';

// The row and its address helpers are shared with the netlink reader; re-exported for the callers
// that have always found them here.
export {
  type TcpRow,
  newRow,
  addressBytes,
  formatAddress,
  localAddress,
  remoteAddress,
  remoteHex,
  remoteKeyV4,
  toSocket,
} from './socket-row.ts';
import { procRootDir } from './proc-root.ts';

const NL = 10;
const SP = 32;
const COLON = 58;

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
  row.addressHex = true;
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
