// Which sockets a query selects: a predicate over scanned rows, so filtered-out lines cost no objects.

import { UsageError } from '../errors.ts';
import { type TcpState, stateCode } from '../model/tcp-state.ts';
import { type TcpRow, formatAddress, remoteAddress } from '../kernel/socket-row.ts';

export interface SocketFilter {
  states?: TcpState[];
  /** Either end's port. */
  port?: number;
  sport?: number;
  dport?: number;
  /** Remote address (any form net.isIP accepts), optionally with a port: 10.0.0.1, [::1]:80, 10.0.0.1:80. */
  peer?: string;
  family?: 'ipv4' | 'ipv6';
}

/** A compiled filter: returns true for rows that pass. */
export type RowPredicate = (row: TcpRow) => boolean;

/** Parse "addr", "addr:port" or "[v6]:port" into a canonical address (as formatAddress prints it) and port. */
export function parsePeer(input: string): { address: string; port?: number } {
  let host = input.trim();
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (/^[\d.]+:\d+$/.test(host)) {
    const i = host.lastIndexOf(':');
    port = Number(host.slice(i + 1));
    host = host.slice(0, i);
  }
  const kind = process.getBuiltinModule('node:net').isIP(host);
  if (kind === 0) throw new UsageError(`--peer takes an IP address, optionally with :port, not '${input}'`);
  if (port !== undefined && port > 65535) throw new UsageError(`--peer port must be at most 65535, not ${port}`);
  return { address: canonicalAddress(host, kind), port };
}

function canonicalAddress(host: string, kind: number): string {
  if (kind === 4) return host.split('.').map(Number).join('.');
  // Expand to 16 bytes and format as the kernel reader does, so both sides compare as strings.
  const bytes = new Uint8Array(16);
  let text = host.toLowerCase();
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const parts = v4tail[1]!.split('.').map(Number);
    const hi = ((parts[0]! << 8) | parts[1]!).toString(16);
    const lo = ((parts[2]! << 8) | parts[3]!).toString(16);
    text = text.slice(0, -v4tail[1]!.length) + `${hi}:${lo}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 255;
  });
  return formatAddress(bytes);
}

export function compileFilter(filter: SocketFilter): RowPredicate {
  const checks: RowPredicate[] = [];
  if (filter.states?.length) {
    const wanted = new Uint8Array(32);
    for (const s of filter.states) wanted[stateCode(s)] = 1;
    checks.push((r) => wanted[r.state] === 1);
  }
  if (filter.family) {
    const family = filter.family;
    checks.push((r) => r.family === family);
  }
  if (filter.port !== undefined) {
    const port = filter.port;
    checks.push((r) => r.localPort === port || r.remotePort === port);
  }
  if (filter.sport !== undefined) {
    const port = filter.sport;
    checks.push((r) => r.localPort === port);
  }
  if (filter.dport !== undefined) {
    const port = filter.dport;
    checks.push((r) => r.remotePort === port);
  }
  if (filter.peer !== undefined) {
    const peer = parsePeer(filter.peer);
    if (peer.port !== undefined) {
      const port = peer.port;
      checks.push((r) => r.remotePort === port);
    }
    checks.push((r) => remoteAddress(r) === peer.address);
  }
  if (checks.length === 0) return () => true;
  return (r) => {
    for (const check of checks) if (!check(r)) return false;
    return true;
  };
}
