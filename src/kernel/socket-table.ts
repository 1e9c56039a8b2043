// One scan of the kernel's TCP socket table through a visitor: netlink sock_diag when it works,
// /proc/net/tcp{,6} otherwise, with the reason for the fallback for the caller to say once.

import { NetlinkUnavailableError, UsageError } from '../errors.ts';
import type { Family } from '../model/socket.ts';
import { type TcpState, stateCode } from '../model/tcp-state.ts';
import { ALL_STATES_MASK, openSockDiag, readInetDiag } from './inet-diag.ts';
import { readProcNetTcp } from './proc-net-tcp.ts';
import type { TcpRow } from './socket-row.ts';

export const SOCKET_SOURCES = ['auto', 'netlink', 'proc'] as const;
export type SocketSource = (typeof SOCKET_SOURCES)[number];

export interface TableScanRequest {
  families?: Family[];
  /** Only these states; the netlink source filters them in the kernel. */
  states?: TcpState[];
  /** Attach tcp_info and the congestion algorithm (netlink only). */
  info?: boolean;
  /** Attach socket memory (netlink only). */
  memory?: boolean;
  /** 'auto' (the default): netlink, else /proc with a reason. */
  source?: SocketSource;
}

export interface TableScan {
  source: 'netlink' | 'proc';
  /** Why /proc was read when netlink was wanted (source 'auto' only). */
  fallback?: string;
  /** Sockets visited. */
  rows: number;
  /** Lines or messages that did not parse. */
  malformed: number;
}

/** The kernel's state filter: bit (1 << code) for each wanted state. */
export function statesMask(states: TcpState[] | undefined): number {
  if (!states?.length) return ALL_STATES_MASK;
  let mask = 0;
  for (const s of states) mask |= 1 << stateCode(s);
  // A connection being accepted is a request socket (NEW_SYN_RECV) that the kernel reports as SYN_RECV.
  if (mask & (1 << stateCode('SYN_RECV'))) mask |= 1 << stateCode('NEW_SYN_RECV');
  return mask;
}

/**
 * Visit every TCP socket of the requested families in the requested states (filtered in the kernel
 * on netlink, here on /proc). Throws NetlinkUnavailableError for source 'netlink', or for
 * info/memory, where netlink cannot work; UsageError for info/memory with source 'proc'.
 */
export function scanSocketTable(req: TableScanRequest, visit: (row: TcpRow) => void): TableScan {
  const families = req.families ?? ['ipv4', 'ipv6'];
  const source = req.source ?? 'auto';
  const needsNetlink = Boolean(req.info || req.memory);
  if (source === 'proc') {
    if (needsNetlink) throw new UsageError('--info and --memory need --source netlink: /proc/net/tcp has no tcp_info');
    return scanProc(families, req.states, visit);
  }
  let why: string;
  if (source === 'auto' && process.platform !== 'linux') return scanProc(families, req.states, visit);
  // A /proc root of the caller's choosing (a copy, a container's) is read as asked.
  if (source === 'auto' && process.env.TCPLENS_PROC !== undefined && !needsNetlink)
    return scanProc(families, req.states, visit);
  let visited = 0;
  const counted = (row: TcpRow) => {
    visited++;
    visit(row);
  };
  try {
    return scanNetlink(families, req, counted);
  } catch (err) {
    if (!(err instanceof NetlinkUnavailableError) || source === 'netlink' || visited > 0) throw err;
    why = err.message;
  }
  if (needsNetlink) throw new NetlinkUnavailableError(`--info needs netlink sock_diag, which cannot be used: ${why}`);
  return { ...scanProc(families, req.states, visit), fallback: why };
}

function scanProc(families: Family[], states: TcpState[] | undefined, visit: (row: TcpRow) => void): TableScan {
  const scan: TableScan = { source: 'proc', rows: 0, malformed: 0 };
  const mask = states?.length ? statesMask(states) : 0;
  const wanted = (row: TcpRow) => {
    if (mask !== 0 && (mask & (1 << row.state)) === 0) return;
    scan.rows++;
    visit(row);
  };
  for (const family of families) scan.malformed += readProcNetTcp(family, wanted).malformed;
  return scan;
}

function scanNetlink(families: Family[], req: TableScanRequest, visit: (row: TcpRow) => void): TableScan {
  const scan: TableScan = { source: 'netlink', rows: 0, malformed: 0 };
  const mask = statesMask(req.states);
  const diag = openSockDiag();
  let ipv4Read = false;
  try {
    for (const family of families) {
      try {
        const r = readInetDiag(diag, family, mask, { info: req.info, memory: req.memory }, visit);
        scan.rows += r.rows;
        scan.malformed += r.malformed;
        if (family === 'ipv4') ipv4Read = true;
      } catch (err) {
        // A kernel with IPv6 disabled lists IPv4 and refuses AF_INET6, as /proc then has no tcp6.
        if (family === 'ipv6' && ipv4Read && err instanceof NetlinkUnavailableError) continue;
        throw err;
      }
    }
  } finally {
    diag.close();
  }
  return scan;
}
