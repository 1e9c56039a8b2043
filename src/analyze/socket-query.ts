// One query over a socket table's rows: filter, then list, group or summarise — the data behind
// `tcplens sockets`. Pure: the rows, owners and backlogs are read by kernel/ (host/socket-query.ts runs it).

import type { EphemeralRange } from '../kernel/ephemeral-range.ts';
import type { SocketOwner, SocketOwners } from '../kernel/processes.ts';
import { type TcpRow, remoteAddress } from '../kernel/socket-row.ts';
import type { SocketSource, TableScan } from '../kernel/socket-table.ts';
import type { Family } from '../model/socket.ts';
import { stateCode, stateName } from '../model/tcp-state.ts';
import { type SocketFilter, compileFilter } from './socket-filter.ts';
import { type ListedSocket, R, SocketListing } from './socket-listing.ts';
import { TI } from '../kernel/tcp-info.ts';
import { SummaryBuilder, type SocketSummary, annotateListeners } from './socket-summary.ts';
import { percentileOfSorted } from '../text/percentile.ts';

export type { ListedSocket } from './socket-listing.ts';

export const GROUP_KEYS = ['state', 'lport', 'rport', 'peer', 'process'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

export const SORT_KEYS = ['rtt', 'retrans', 'sendq'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface SocketQuery {
  filter?: SocketFilter;
  /** Resolve owning processes (pid and command). */
  processes?: boolean;
  /** Count sockets by this key instead of listing them. */
  by?: GroupKey;
  /** Only the summary (counts, listeners, ephemeral ports), no socket list. */
  summaryOnly?: boolean;
  /** At most this many sockets, groups or destinations. */
  top?: number;
  families?: Family[];
  /** Where to read the table: 'auto' (netlink, else /proc), 'netlink' or 'proc'. */
  source?: SocketSource;
  /** tcp_info and congestion control per connection (netlink only). */
  info?: boolean;
  /** Socket memory per connection (netlink only). */
  memory?: boolean;
  /** List the worst first: highest RTT, most retransmits, or largest send queue. */
  sort?: SortKey;
  /** Return the listing column by column (`listing`) instead of one object per socket (`sockets`). */
  columns?: boolean;
  /**
   * With `by` and `info`: the groups past `top` merged into one (`rest`), and the RTT distribution
   * of every connection counted (`rtt`), for bounded per-group metrics that still add up.
   */
  spread?: boolean;
}

/** RTTs of the connections counted: nearest-rank quantiles, and how many at most each bound. */
export interface RttSpread {
  /** Connections that reported an RTT. */
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** Cumulative: connections whose RTT is at most RTT_BOUNDS_MS[i]; the last is every one (+Inf). */
  atMost: number[];
  sumMs: number;
}

/** Upper bounds of the RTT distribution, ms: loopback and a LAN below 1 ms, a continent near 100 ms. */
export const RTT_BOUNDS_MS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
];

export interface Group {
  key: string;
  count: number;
  /** With info: over the group's connections that report an RTT. */
  rttMedianMs?: number | null;
  rttP99Ms?: number | null;
  /** With info: retransmitted segments over the life of the group's connections. */
  totalRetrans?: number;
}

export interface SocketReport {
  /** Which reader filled the report. */
  source: 'netlink' | 'proc';
  /** Why /proc was read instead of netlink, when it was not asked for. */
  fallback?: string;
  summary: SocketSummary;
  sockets?: ListedSocket[];
  /** With `columns`: the listed sockets column by column, which positions to show in which order, and the socket at a position as `sockets` would hold it. */
  listing?: { columns: SocketListing; order: Uint32Array; socket(i: number): ListedSocket };
  groups?: Group[];
  /** With `spread`: the groups past `top` as one, key "other" (absent when none was left out). */
  rest?: Group;
  /** With `spread`: the RTTs of every connection grouped. */
  rtt?: RttSpread;
  /** Lines or messages of the table that did not parse (a kernel format we do not know, a cut-off read). */
  malformedLines: number;
  /** Set when processes were resolved: processes whose sockets we could not see. */
  hiddenProcesses?: number;
}

/**
 * Takes each socket a listing query selects, as it is read, in place of the listing the report would
 * hold: a text table formats its rows from the reader's reused row and keeps only their bytes.
 */
export interface ListingSink {
  add(row: TcpRow, owner: SocketOwner | undefined): void;
  /** The accept-queue maxima, by inode, of listeners the table read had none for (/proc). */
  backlogs(maxByInode: Map<number, number>): void;
}

const LISTEN = stateCode('LISTEN');

interface GroupAcc {
  count: number;
  rttsMs: number[];
  totalRetrans: number;
}

/** What a query needs read besides the socket table: the owning processes, the ephemeral port range. */
export function socketQueryNeeds(query: SocketQuery): { owners: boolean; ephemeralRange: boolean } {
  return {
    owners: Boolean(query.processes) || query.by === 'process',
    ephemeralRange: Boolean(query.summaryOnly) && !query.by,
  };
}

/**
 * One query over the rows of one table scan, pure: the reader calls visit for each row, then report
 * with the scan's outcome. Owners and the ephemeral range are read before (socketQueryNeeds), and the
 * listeners' accept-queue maxima after, only when needsBacklogs says the table lacked them.
 */
export class SocketQueryPass {
  readonly visit: (row: TcpRow) => void;
  private readonly query: SocketQuery;
  private readonly owners: SocketOwners | undefined;
  private readonly builder: SummaryBuilder;
  private readonly listing: SocketListing;
  private readonly groups = new Map<string | number, GroupAcc>();
  private readonly groupKey: ((r: TcpRow) => string | number) | undefined;
  private readonly summaryOnly: boolean;
  private readonly listAll: boolean;
  private summary: SocketSummary | undefined;

  private readonly sink: ListingSink | undefined;

  /** With a sink, the sockets listed go to it as they are read, and the report holds no listing. */
  constructor(
    query: SocketQuery,
    inputs: { owners?: SocketOwners; ephemeralRange?: EphemeralRange; sink?: ListingSink } = {},
  ) {
    this.query = query;
    this.owners = inputs.owners;
    const sink = (this.sink = inputs.sink);
    const byInode = inputs.owners?.byInode;
    const pass = compileFilter(query.filter ?? {});
    this.summaryOnly = Boolean(query.summaryOnly) && !query.by;
    const builder = (this.builder = new SummaryBuilder(this.summaryOnly ? inputs.ephemeralRange : undefined));
    const withInfo = Boolean(query.info);
    const listing = (this.listing = new SocketListing(withInfo));
    const groups = this.groups;
    const groupKey = (this.groupKey = query.by ? keyFunction(query.by, inputs.owners?.byInode) : undefined);
    const listAll = (this.listAll = !this.summaryOnly && !query.by);
    this.visit = (row: TcpRow) => {
      if (!pass(row)) return;
      builder.add(row);
      if (groupKey) {
        const key = groupKey(row);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { count: 0, rttsMs: [], totalRetrans: 0 }));
        g.count++;
        if (withInfo && row.hasInfo && row.state !== LISTEN) {
          const v = row.info!.values;
          g.rttsMs.push(v[TI.rttUs]! / 1000);
          g.totalRetrans += v[TI.totalRetrans] || 0;
        }
      } else if (listAll) {
        if (sink) sink.add(row, byInode && row.inode !== 0 ? byInode.get(row.inode) : undefined);
        else listing.add(row);
      }
    };
  }

  private result(): SocketSummary {
    this.summary ??= this.builder.result(this.query.top ?? 10);
    return this.summary;
  }

  /** Netlink gives each listener its maximum; /proc has none, so ss is asked then. */
  needsBacklogs(scan: Pick<TableScan, 'source'>): boolean {
    return scan.source === 'proc' && (this.summaryOnly || this.listAll) && this.result().listeners.length > 0;
  }

  report(scan: TableScan, backlogs?: Map<number, number>): SocketReport {
    const { query, owners, listing } = this;
    const summary = this.result();
    annotateListeners(summary.listeners, backlogs, owners?.byInode);
    const report: SocketReport = { source: scan.source, summary, malformedLines: scan.malformed };
    if (scan.fallback) report.fallback = scan.fallback;
    if (owners) report.hiddenProcesses = owners.hiddenProcesses;
    if (this.groupKey) {
      const withInfo = Boolean(query.info);
      const all = [...this.groups].sort(([ka, a], [kb, b]) => b.count - a.count || compareKeys(String(ka), String(kb)));
      const top = all.slice(0, query.top ?? Infinity);
      report.groups = top.map(([key, g]) => toGroup(String(key), g, withInfo));
      if (query.spread && withInfo) {
        const rest: GroupAcc = { count: 0, rttsMs: [], totalRetrans: 0 };
        for (const [, g] of all.slice(top.length)) {
          rest.count += g.count;
          rest.totalRetrans += g.totalRetrans;
          for (const r of g.rttsMs) rest.rttsMs.push(r);
        }
        if (all.length > top.length) report.rest = toGroup('other', rest, true);
        report.rtt = rttSpread(all.map(([, g]) => g.rttsMs));
      }
    }
    if (this.listAll && this.sink) {
      if (backlogs) this.sink.backlogs(backlogs);
    } else if (this.listAll) {
      const order = listing.order(query.sort ? sortBy(query.sort, listing) : undefined, query.top);
      if (backlogs)
        for (const i of order)
          if (listing.get(i, R.state) === LISTEN)
            listing.set(i, R.acceptQueueMax, backlogs.get(listing.get(i, R.inode)) ?? -1);
      const socketAt = (i: number): ListedSocket => {
        const s = listing.socket(i);
        const inode = listing.get(i, R.inode);
        const owner = inode === 0 ? undefined : owners?.byInode.get(inode);
        if (owner) {
          s.pid = owner.pid;
          s.process = owner.command;
        }
        return s;
      };
      if (query.columns) report.listing = { columns: listing, order, socket: socketAt };
      else report.sockets = Array.from(order, socketAt);
    }
    return report;
  }
}

// Worst first; sockets without the value (no tcp_info: TIME_WAIT, listeners) go last.
function sortBy(key: SortKey, l: SocketListing): (a: number, b: number) => number {
  const info = (i: number, f: number) => (l.hasInfo(i) ? l.infoValue(i, f) : -1);
  switch (key) {
    case 'rtt':
      return (a, b) => info(b, TI.rttUs) - info(a, TI.rttUs);
    case 'retrans':
      return (a, b) =>
        info(b, TI.totalRetrans) - info(a, TI.totalRetrans) || l.get(b, R.retransmits) - l.get(a, R.retransmits);
    case 'sendq':
      return (a, b) => l.get(b, R.txQueue) - l.get(a, R.txQueue);
  }
}

function toGroup(key: string, g: GroupAcc, withInfo: boolean): Group {
  const group: Group = { key, count: g.count };
  if (!withInfo) return group;
  const sorted = Float64Array.from(g.rttsMs).sort();
  // null, not 0, for a group with no RTT to report.
  group.rttMedianMs = sorted.length === 0 ? null : percentileOfSorted(sorted, 50);
  group.rttP99Ms = sorted.length === 0 ? null : percentileOfSorted(sorted, 99);
  group.totalRetrans = g.totalRetrans;
  return group;
}

function compareKeys(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a.localeCompare(b);
}

function keyFunction(by: GroupKey, owners?: Map<number, { pid: number; command: string }>) {
  switch (by) {
    case 'state':
      return (r: TcpRow): string | number => stateName(r.state);
    case 'lport':
      return (r: TcpRow): string | number => r.localPort;
    case 'rport':
      return (r: TcpRow): string | number => r.remotePort;
    case 'peer':
      return (r: TcpRow): string | number => (r.state === LISTEN ? '*' : remoteAddress(r));
    case 'process':
      return (r: TcpRow): string | number => {
        const o = r.inode === 0 ? undefined : owners?.get(r.inode);
        return o ? `${o.command}/${o.pid}` : '-';
      };
  }
}

function rttSpread(lists: number[][]): RttSpread {
  let n = 0;
  for (const l of lists) n += l.length;
  const sorted = new Float64Array(n);
  let at = 0;
  let sumMs = 0;
  for (const l of lists) {
    for (const r of l) {
      sorted[at++] = r;
      sumMs += r;
    }
  }
  sorted.sort();
  const atMost: number[] = [];
  let i = 0;
  for (const bound of RTT_BOUNDS_MS) {
    while (i < n && sorted[i]! <= bound) i++;
    atMost.push(i);
  }
  atMost.push(n);
  const q = (p: number) => (n === 0 ? null : percentileOfSorted(sorted, p));
  return { count: n, p50Ms: q(50), p90Ms: q(90), p99Ms: q(99), atMost, sumMs };
}
