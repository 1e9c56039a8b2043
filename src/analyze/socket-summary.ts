// Counts by state, listeners with their accept queues, and ephemeral-port use per destination,
// accumulated row by row so that 100,000 sockets cost a few maps, not 100,000 objects.

import type { Endpoint, Family } from '../model/socket.ts';
import { TCP_STATES, stateCode, stateName } from '../model/tcp-state.ts';
import { type TcpRow, localAddress, remoteAddress, remoteHex, remoteKeyV4 } from '../kernel/socket-row.ts';
import type { EphemeralRange } from '../kernel/ephemeral-range.ts';

export interface Listener {
  family: Family;
  local: Endpoint;
  /** Connections waiting in the accept queue now (the LISTEN socket's rx_queue). */
  queue: number;
  /** The queue's maximum, min(listen backlog, somaxconn), or null when it cannot be had. */
  maxQueue: number | null;
  /** queue / maxQueue, or null when the maximum is unknown. */
  fill: number | null;
  inode: number;
  uid: number;
  pid?: number;
  process?: string;
}

export interface DestinationPorts {
  remote: Endpoint;
  /** Local ephemeral ports held towards this destination, in any state but LISTEN. */
  ports: number;
  /** Of those, how many are in TIME_WAIT. */
  timeWait: number;
  /** ports / the usable size of the ephemeral range: 1.0 means connect() fails with EADDRNOTAVAIL. */
  share: number;
}

export interface EphemeralUse {
  range: { low: number; high: number };
  reservedInRange: number;
  usable: number;
  /** Distinct local ports of the range in use, towards any destination. */
  portsInUse: number;
  destinations: DestinationPorts[];
}

export interface SocketSummary {
  total: number;
  families: Record<Family, number>;
  byState: Record<string, number>;
  /** TIME_WAIT sockets / all sockets counted. */
  timeWaitShare: number;
  listeners: Listener[];
  ephemeral?: EphemeralUse;
}

interface DestinationCount {
  remote: Endpoint;
  ports: number;
  timeWait: number;
}

const LISTEN = stateCode('LISTEN');
const TIME_WAIT = stateCode('TIME_WAIT');

/** Accumulates a summary over rows; call add() for each row, then result(). */
export class SummaryBuilder {
  private readonly stateCounts = new Float64Array(64);
  private readonly familyCounts = { ipv4: 0, ipv6: 0 };
  private readonly listeners: Listener[] = [];
  private readonly used = new Uint8Array(65536);
  private readonly listening = new Uint8Array(65536);
  private portsInUse = 0;
  private readonly destinations = new Map<number | string, DestinationCount>();
  private readonly range: EphemeralRange | undefined;

  constructor(range?: EphemeralRange) {
    this.range = range;
  }

  add(row: TcpRow): void {
    this.stateCounts[row.state < 64 ? row.state : 0]!++;
    this.familyCounts[row.family]++;
    if (row.state === LISTEN) {
      this.listening[row.localPort] = 1;
      // Netlink rows carry the maximum; /proc rows get it later from annotateListeners.
      const max = row.acceptQueueMax >= 0 ? row.acceptQueueMax : null;
      this.listeners.push({
        family: row.family,
        local: { address: localAddress(row), port: row.localPort },
        queue: row.rxQueue,
        maxQueue: max,
        fill: max === null ? null : queueFill(row.rxQueue, max),
        inode: row.inode,
        uid: row.uid,
      });
      return;
    }
    const range = this.range;
    if (!range || row.remotePort === 0) return;
    const port = row.localPort;
    if (port < range.low || port > range.high || range.reserved[port] === 1) return;
    // A socket accepted by a listener has the listener's port, not an ephemeral one. Each table
    // lists its listeners before its connections, so the map is complete when connections come.
    if (this.listening[port] === 1) return;
    if (this.used[port] === 0) {
      this.used[port] = 1;
      this.portsInUse++;
    }
    // A number key for IPv4 and the kernel's hex text for IPv6: no address is formatted per row.
    let key: number | string = remoteKeyV4(row);
    if (key < 0) key = `${remoteHex(row)}:${row.remotePort}`;
    let dest = this.destinations.get(key);
    if (!dest) {
      dest = { remote: { address: remoteAddress(row), port: row.remotePort }, ports: 0, timeWait: 0 };
      this.destinations.set(key, dest);
    }
    dest.ports++;
    if (row.state === TIME_WAIT) dest.timeWait++;
  }

  result(topDestinations = 10): SocketSummary {
    const byState: Record<string, number> = {};
    let total = 0;
    for (const name of TCP_STATES) byState[name] = 0;
    for (let code = 0; code < this.stateCounts.length; code++) {
      const n = this.stateCounts[code]!;
      if (n === 0) continue;
      byState[stateName(code)] = n;
      total += n;
    }
    const summary: SocketSummary = {
      total,
      families: { ...this.familyCounts },
      byState,
      timeWaitShare: total === 0 ? 0 : (byState.TIME_WAIT ?? 0) / total,
      listeners: this.listeners.sort((a, b) => a.local.port - b.local.port || a.family.localeCompare(b.family)),
    };
    const range = this.range;
    if (range) {
      const destinations = [...this.destinations.values()]
        .sort((a, b) => b.ports - a.ports || a.remote.port - b.remote.port)
        .slice(0, topDestinations)
        .map((d) => ({ ...d, share: range.usable === 0 ? 1 : d.ports / range.usable }));
      summary.ephemeral = {
        range: { low: range.low, high: range.high },
        reservedInRange: range.reservedInRange,
        usable: range.usable,
        portsInUse: this.portsInUse,
        destinations,
      };
    }
    return summary;
  }
}

function queueFill(queue: number, max: number): number {
  return max === 0 ? (queue > 0 ? 1 : 0) : queue / max;
}

/** Fill in the accept-queue maxima (from `ss`, when /proc was read) and owners of listeners. */
export function annotateListeners(
  listeners: Listener[],
  maxByInode: Map<number, number> | undefined,
  owners?: Map<number, { pid: number; command: string }>,
): void {
  for (const l of listeners) {
    const max = maxByInode?.get(l.inode);
    if (max !== undefined) {
      l.maxQueue = max;
      l.fill = queueFill(l.queue, max);
    }
    const owner = owners?.get(l.inode);
    if (owner) {
      l.pid = owner.pid;
      l.process = owner.command;
    }
  }
}
