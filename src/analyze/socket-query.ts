// One query over the live socket tables: filter, then list, group or summarise — the data behind `tcplens sockets`.

import { readEphemeralRange } from '../kernel/ephemeral-range.ts';
import { readListenBacklogs } from '../kernel/listen-backlog.ts';
import { type TcpRow, readProcNetTcp, remoteAddress, toSocket } from '../kernel/proc-net-tcp.ts';
import { readSocketOwners } from '../kernel/processes.ts';
import type { Family, Socket } from '../model/socket.ts';
import { stateCode, stateName } from '../model/tcp-state.ts';
import { type SocketFilter, compileFilter } from './socket-filter.ts';
import { SummaryBuilder, type SocketSummary, annotateListeners } from './socket-summary.ts';

export const GROUP_KEYS = ['state', 'lport', 'rport', 'peer', 'process'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

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
}

export interface Group {
  key: string;
  count: number;
}

/** A listed socket; LISTEN sockets carry their accept queue's maximum where it is known. */
export type ListedSocket = Socket & { acceptQueueMax?: number | null };

export interface SocketReport {
  summary: SocketSummary;
  sockets?: ListedSocket[];
  groups?: Group[];
  /** Lines of the tables that did not parse (a kernel format we do not know, or a cut-off read). */
  malformedLines: number;
  /** Set when processes were resolved: processes whose sockets we could not see. */
  hiddenProcesses?: number;
}

const LISTEN = stateCode('LISTEN');

export async function querySockets(query: SocketQuery = {}): Promise<SocketReport> {
  const pass = compileFilter(query.filter ?? {});
  const families = query.families ?? ['ipv4', 'ipv6'];
  const wantOwners = Boolean(query.processes) || query.by === 'process';
  const owners = wantOwners ? readSocketOwners() : undefined;
  const summaryOnly = Boolean(query.summaryOnly) && !query.by;
  const builder = new SummaryBuilder(summaryOnly ? readEphemeralRange() : undefined);
  const sockets: ListedSocket[] = [];
  const groups = new Map<string | number, number>();
  const groupKey = query.by ? keyFunction(query.by, owners?.byInode) : undefined;
  const listAll = !summaryOnly && !query.by;
  // Started first: ss runs on the other core while this one scans the tables.
  const backlogsPending = summaryOnly || listAll ? readListenBacklogs() : undefined;

  const visit = (row: TcpRow) => {
    if (!pass(row)) return;
    builder.add(row);
    if (groupKey) {
      const key = groupKey(row);
      groups.set(key, (groups.get(key) ?? 0) + 1);
    } else if (listAll) {
      sockets.push(toSocket(row));
    }
  };
  let malformedLines = 0;
  for (const family of families) malformedLines += readProcNetTcp(family, visit).malformed;

  const summary = builder.result(query.top ?? 10);
  const backlogs = await backlogsPending;
  annotateListeners(summary.listeners, backlogs, owners?.byInode);

  const report: SocketReport = { summary, malformedLines };
  if (owners) report.hiddenProcesses = owners.hiddenProcesses;
  if (groupKey) {
    report.groups = [...groups]
      .map(([key, count]) => ({ key: String(key), count }))
      .sort((a, b) => b.count - a.count || compareKeys(a.key, b.key))
      .slice(0, query.top ?? Infinity);
  }
  if (listAll) {
    const limited = query.top === undefined ? sockets : sockets.slice(0, query.top);
    for (const s of limited) {
      const owner = owners?.byInode.get(s.inode);
      if (owner && s.inode !== 0) {
        s.pid = owner.pid;
        s.process = owner.command;
      }
      if (s.state === 'LISTEN') s.acceptQueueMax = backlogs?.get(s.inode) ?? null;
    }
    report.sockets = limited;
  }
  return report;
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

