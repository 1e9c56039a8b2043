// Netlink sock_diag (inet_diag, what `ss` reads): the dump request, a pure parser of the kernel's
// replies into the shared reused row, and a thin reader that runs one dump per address family.

import { constants } from 'node:os';
import { KernelReadError, NetlinkUnavailableError } from '../errors.ts';
import type { Family } from '../model/socket.ts';
import { loadLibc, type Libc } from './libc.ts';
import { type TcpRow, newRow } from './socket-row.ts';
import { TI, hostWords, newTcpInfoRecord, parseCongestion, parseSkmem, parseTcpInfo } from './tcp-info.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const IPPROTO_TCP = 6;
const SOCK_DIAG_BY_FAMILY = 20;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLM_F_DUMP_INTR = 0x10;
const NLMSG_HDRLEN = 16;
/** sizeof(struct inet_diag_msg) */
const DIAG_MSG_LEN = 72;

// inet_diag attribute types (include/uapi/linux/inet_diag.h); a request asks for type T with bit T-1.
const INET_DIAG_INFO = 2;
const INET_DIAG_CONG = 4;
const INET_DIAG_SKMEMINFO = 7;

/** Which extensions a dump asks the kernel to attach to each socket. */
export interface DiagExtensions {
  /** tcp_info and the congestion algorithm. */
  info?: boolean;
  /** Socket memory (skmem). */
  memory?: boolean;
}

export function extensionBits(ext: DiagExtensions): number {
  let bits = 0;
  if (ext.info) bits |= (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_CONG - 1));
  if (ext.memory) bits |= 1 << (INET_DIAG_SKMEMINFO - 1);
  return bits;
}

/**
 * Every TCP state that ss -a and /proc/net/tcp list, as the bit mask the kernel filters with
 * (1 << state): ESTABLISHED (1) to NEW_SYN_RECV (12). BOUND_INACTIVE (13) stays out unless asked
 * for by name: the kernel answers it by walking its whole bind table, a dump half as long again.
 */
export const ALL_STATES_MASK = 0x1ffe;

/**
 * The request for a dump of every TCP socket of `family` whose state bit is in `statesMask`:
 * nlmsghdr then struct inet_diag_req_v2, in host byte order. Pure.
 */
export function buildInetDiagRequest(
  family: Family,
  statesMask: number,
  extensions: number,
  seq: number,
  protocol = IPPROTO_TCP,
): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + 56);
  const le = isLE;
  const w32 = (v: number, at: number) => (le ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at));
  const w16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  w32(b.length, 0);
  w16(SOCK_DIAG_BY_FAMILY, 4);
  w16(NLM_F_REQUEST | NLM_F_DUMP, 6);
  w32(seq, 8);
  w32(0, 12);
  b[16] = family === 'ipv4' ? AF_INET : AF_INET6;
  b[17] = protocol;
  b[18] = extensions;
  w32(statesMask, 20);
  // inet_diag_sockid stays zero: a dump ignores it.
  return b;
}

const isLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u32(b: Uint8Array, at: number): number {
  return isLE
    ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
    : ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function u16(b: Uint8Array, at: number): number {
  return isLE ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!;
}

/** What one datagram of a dump held. */
export interface DiagBatch {
  rows: number;
  /** The dump ended (NLMSG_DONE or NLMSG_ERROR). */
  done: boolean;
  /** errno the kernel answered with (NLMSG_ERROR, or an error carried by NLMSG_DONE), 0 if none. */
  errno: number;
  /** Messages too short for what they claim to be. */
  malformed: number;
  /** The kernel flagged the dump as interrupted by concurrent changes (NLM_F_DUMP_INTR). */
  interrupted: boolean;
}

export function newBatch(): DiagBatch {
  return { rows: 0, done: false, errno: 0, malformed: 0, interrupted: false };
}

/**
 * Parse the netlink messages in buf[0, len) — replies to a SOCK_DIAG_BY_FAMILY dump — calling
 * visit with the reused row for each socket. Adds to `out`. Pure.
 */
export function parseInetDiagMessages(
  buf: Uint8Array,
  len: number,
  row: TcpRow,
  visit: (row: TcpRow) => void,
  out: DiagBatch,
): void {
  row.buf = buf;
  row.addressHex = false;
  // Messages start 4-aligned: their 32-bit fields are words of an aligned buffer.
  const w = hostWords(buf);
  let at = 0;
  while (at + NLMSG_HDRLEN <= len) {
    const msgLen = w ? w[at >>> 2]! : u32(buf, at);
    const type = u16(buf, at + 4);
    const flags = u16(buf, at + 6);
    if (msgLen < NLMSG_HDRLEN || at + msgLen > len) {
      out.malformed++;
      return;
    }
    if (flags & NLM_F_DUMP_INTR) out.interrupted = true;
    if (type === NLMSG_DONE || type === NLMSG_ERROR) {
      out.done = true;
      // Both carry an int: a negative errno, or 0 (an ack, or a dump that ended well).
      const code = msgLen >= NLMSG_HDRLEN + 4 ? u32(buf, at + NLMSG_HDRLEN) | 0 : 0;
      if (code < 0) out.errno = -code;
      return;
    }
    if (type === SOCK_DIAG_BY_FAMILY) {
      if (msgLen < NLMSG_HDRLEN + DIAG_MSG_LEN) out.malformed++;
      else {
        decodeDiagMessage(buf, w, at + NLMSG_HDRLEN, at + msgLen, row);
        out.rows++;
        visit(row);
      }
    }
    at += (msgLen + 3) & ~3;
  }
}

// struct inet_diag_msg at m, then its attributes up to end.
function decodeDiagMessage(b: Uint8Array, w: Uint32Array | undefined, m: number, end: number, row: TcpRow): void {
  const state = b[m + 1]!;
  const timer = b[m + 2]!;
  const retrans = b[m + 3]!;
  row.state = state;
  row.timer = timer;
  // idiag_retrans carries the retransmit count under the retransmit timer and the unanswered
  // probes under the keepalive and zero-window timers: /proc splits them into two columns.
  const probeTimer = timer === 2 || timer === 4;
  row.retransmits = probeTimer ? 0 : retrans;
  row.timeout = probeTimer ? retrans : 0;
  row.localPort = (b[m + 4]! << 8) | b[m + 5]!;
  row.remotePort = (b[m + 6]! << 8) | b[m + 7]!;
  row.localAt = m + 8;
  row.remoteAt = m + 24;
  // Milliseconds; /proc counts the same timer in ticks of 10 ms, rounded down.
  const q = m >>> 2;
  row.timerTicks = timer === 0 ? 0 : Math.floor((w ? w[q + 13]! : u32(b, m + 52)) / 10);
  const rqueue = w ? w[q + 14]! : u32(b, m + 56);
  const wqueue = w ? w[q + 15]! : u32(b, m + 60);
  row.uid = w ? w[q + 16]! : u32(b, m + 64);
  row.inode = w ? w[q + 17]! : u32(b, m + 68);
  row.rxQueue = rqueue;
  if (state === 10 /* LISTEN */) {
    // For a listener the kernel puts the accept queue in rqueue and its maximum in wqueue.
    row.txQueue = 0;
    row.acceptQueueMax = wqueue;
  } else {
    row.txQueue = wqueue;
    row.acceptQueueMax = -1;
  }
  row.hasInfo = false;
  const rec = row.info;
  if (rec === undefined) return;
  rec.hasSkmem = false;
  let congestion = false;
  for (let a = m + DIAG_MSG_LEN; a + 4 <= end; ) {
    const rtaLen = u16(b, a);
    const rtaType = u16(b, a + 2);
    if (rtaLen < 4 || a + rtaLen > end) break;
    const payload = a + 4;
    const plen = rtaLen - 4;
    if (rtaType === INET_DIAG_INFO) {
      parseTcpInfo(b, payload, plen, rec);
      row.hasInfo = true;
    } else if (rtaType === INET_DIAG_SKMEMINFO) {
      parseSkmem(b, payload, plen, rec);
    } else if (rtaType === INET_DIAG_CONG) {
      parseCongestion(b, payload, plen, rec);
      congestion = true;
    }
    a += (rtaLen + 3) & ~3;
  }
  if (!congestion) rec.congestion = '';
  if (row.hasInfo) {
    // tcp_info has both counts exactly, whatever timer is pending.
    row.retransmits = rec.values[TI.retransmits]!;
    row.timeout = rec.values[TI.probes]!;
  }
}

// ---- I/O ----------------------------------------------------------------------------------

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number) => ERRNO_NAMES.get(n) ?? `errno ${n}`;
const EINTR = constants.errno.EINTR;

/** An open NETLINK_SOCK_DIAG socket. */
export interface SockDiag {
  libc: Libc;
  fd: number;
  close(): void;
}

/** Open the netlink socket; NetlinkUnavailableError when the FFI or the kernel refuses. */
export function openSockDiag(): SockDiag {
  const libc = loadLibc();
  // TCPLENS_NETLINK_FAULT=refused asks for a netlink protocol that cannot exist, so the kernel
  // really refuses the socket, as a seccomp filter or a container without netlink would.
  const protocol = process.env.TCPLENS_NETLINK_FAULT === 'refused' ? 9999 : NETLINK_SOCK_DIAG;
  const fd = libc.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, protocol);
  if (fd < 0)
    throw new NetlinkUnavailableError(`netlink sock_diag is refused here (socket: ${errnoName(libc.errno())})`);
  let open = true;
  return {
    libc,
    fd,
    close() {
      if (open) libc.close(fd);
      open = false;
    },
  };
}

// The kernel fills at most about 32 KiB per datagram of a dump; twice that never truncates one.
const RECV_BYTES = 64 << 10;
let recvBuf: Buffer | undefined;
let seq = 0;

export interface DumpResult {
  rows: number;
  malformed: number;
  interrupted: boolean;
}

/**
 * Dump the TCP sockets of one family whose state is in statesMask through visit, one reused row,
 * one reused 64 KiB buffer: memory stays flat however many sockets there are. Throws
 * NetlinkUnavailableError when the kernel refuses the dump before any socket (no inet_diag).
 */
export function readInetDiag(
  diag: SockDiag,
  family: Family,
  statesMask: number,
  extensions: DiagExtensions,
  visit: (row: TcpRow) => void,
): DumpResult {
  const { libc, fd } = diag;
  const bits = extensionBits(extensions);
  // TCPLENS_NETLINK_FAULT=no-inet-diag asks for a protocol no diag module handles: the kernel
  // answers ENOENT, as it does when inet_diag or tcp_diag is not built or loaded.
  const protocol = process.env.TCPLENS_NETLINK_FAULT === 'no-inet-diag' ? 253 : IPPROTO_TCP;
  const req = buildInetDiagRequest(family, statesMask, bits, ++seq, protocol);
  if (libc.send(fd, req, req.length, 0) < 0) {
    throw new NetlinkUnavailableError(`netlink sock_diag is refused here (send: ${errnoName(libc.errno())})`);
  }
  const buf = (recvBuf ??= Buffer.allocUnsafe(RECV_BYTES));
  const row = newRow(family);
  if (bits & (1 << (INET_DIAG_INFO - 1)) || bits & (1 << (INET_DIAG_SKMEMINFO - 1))) row.info = newTcpInfoRecord();
  const batch = newBatch();
  // A dump ends with NLMSG_DONE; the bound only guards against a kernel that never says so.
  for (let reads = 0; !batch.done && reads < 1 << 24; reads++) {
    const n = libc.recv(fd, buf, buf.length, 0);
    if (n < 0) {
      const errno = libc.errno();
      if (errno === EINTR) continue;
      throw new KernelReadError(`reading netlink sock_diag failed: ${errnoName(errno)}`);
    }
    if (n === 0) break;
    parseInetDiagMessages(buf, n, row, visit, batch);
  }
  if (batch.errno !== 0) {
    const why = `${errnoName(batch.errno)} for ${family === 'ipv4' ? 'AF_INET' : 'AF_INET6'}/TCP`;
    if (batch.rows === 0) {
      throw new NetlinkUnavailableError(
        batch.errno === constants.errno.ENOENT
          ? `the kernel has no inet_diag for TCP (sock_diag answered ${why}: inet_diag/tcp_diag not built or loaded)`
          : `the kernel refused the sock_diag dump (${why})`,
      );
    }
    throw new KernelReadError(`the sock_diag dump stopped after ${batch.rows} sockets: ${why}`);
  }
  return { rows: batch.rows, malformed: batch.malformed, interrupted: batch.interrupted };
}
