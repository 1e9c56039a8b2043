// Doctor's reading of the host: counters twice over the window, one scan of the socket tables,
// the sysctls of the catalog. The only part of doctor that touches the kernel.

import { hostname, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { flattenCounters, readCounters } from '../kernel/counters.ts';
import { readEphemeralRange } from '../kernel/ephemeral-range.ts';
import { readListenBacklogs } from '../kernel/listen-backlog.ts';
import { readProcNetTcp, type TcpRow } from '../kernel/proc-net-tcp.ts';
import { readdirSync, readlinkSync } from 'node:fs';
import { PermissionError, UsageError } from '../errors.ts';
import { procRootDir } from '../kernel/proc-root.ts';
import { readProcessesWithLimits } from '../kernel/processes.ts';
import { normalizeSysctlText, readSysctls } from '../kernel/sysctl.ts';
import { stateCode } from '../model/tcp-state.ts';
import { SYSCTL_CATALOG } from '../analyze/sysctl-catalog.ts';
import { compileFilter } from '../analyze/socket-filter.ts';
import { SummaryBuilder, annotateListeners } from '../analyze/socket-summary.ts';
import type { DoctorSnapshot, PortCount } from '../analyze/doctor/snapshot.ts';

export interface CollectOptions {
  durationS: number;
  /** Only sockets with this port at either end. */
  port?: number;
  /** Only the sockets of this process (and TIME_WAIT on its listening ports). */
  pid?: number;
  signal?: AbortSignal;
}

/** Socket inodes a process holds, from /proc/<pid>/fd. */
function inodesOf(pid: number): Set<number> {
  const dir = `${procRootDir()}/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--pid ${pid}: no such process`);
    throw new PermissionError(`--pid ${pid}: cannot read ${dir} (another user's process: run as root)`);
  }
  const out = new Set<number>();
  for (const fd of fds) {
    try {
      const t = readlinkSync(`${dir}/${fd}`);
      if (t.startsWith('socket:[')) out.add(Number(t.slice(8, -1)));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

const TIME_WAIT = stateCode('TIME_WAIT');
const CLOSE_WAIT = stateCode('CLOSE_WAIT');
const FIN_WAIT2 = stateCode('FIN_WAIT2');
const LISTEN = stateCode('LISTEN');

function top(map: Map<number, number>, n = 10): PortCount[] {
  return [...map].map(([port, count]) => ({ port, count })).sort((a, b) => b.count - a.count).slice(0, n);
}

export async function collectSnapshot(o: CollectOptions): Promise<DoctorSnapshot> {
  const backlogs = readListenBacklogs();
  const before = flattenCounters(readCounters().counters);
  const started = performance.now();
  // The socket tables and /proc are read inside the window, as late as they can be and still end
  // with it: with 100,000 sockets that work takes over a second, and the run should last the
  // window, not the window plus the work. sockstat's counts (cheap) tell how long it will take.
  const tcp = (k: string) => before[`sockstat.TCP.${k}`] ?? 0;
  const estimateMs = 300 + (tcp('inuse') + tcp('tw') + (before['sockstat.TCP6.inuse'] ?? 0)) * 0.015;
  const waitFirst = o.durationS * 1000 - estimateMs;
  if (waitFirst > 0) await sleep(waitFirst, undefined, { signal: o.signal }).catch(() => undefined);
  const byPort = compileFilter({ port: o.port });
  const mine = o.pid === undefined ? undefined : inodesOf(o.pid);
  const minePorts = new Uint8Array(65536);
  const pass = (r: TcpRow) => {
    if (!byPort(r)) return false;
    if (!mine) return true;
    if (mine.has(r.inode)) {
      if (r.state === LISTEN) minePorts[r.localPort] = 1;
      return true;
    }
    // TIME_WAIT has no inode: count it when it sits on one of the process's listening ports.
    return r.inode === 0 && minePorts[r.localPort] === 1;
  };
  const builder = new SummaryBuilder(readEphemeralRange());
  const listening = new Uint8Array(65536);
  const twServer = new Map<number, number>();
  const twClient = new Map<number, number>();
  const closeWait = new Map<number, number>();
  let finWait2 = 0;
  const visit = (r: TcpRow) => {
    if (!pass(r)) return;
    builder.add(r);
    if (r.state === LISTEN) listening[r.localPort] = 1;
    else if (r.state === TIME_WAIT) {
      // Each table lists its listeners first: a TIME_WAIT on a listening port is the server's.
      if (listening[r.localPort]) twServer.set(r.localPort, (twServer.get(r.localPort) ?? 0) + 1);
      else twClient.set(r.remotePort, (twClient.get(r.remotePort) ?? 0) + 1);
    } else if (r.state === CLOSE_WAIT) closeWait.set(r.localPort, (closeWait.get(r.localPort) ?? 0) + 1);
    else if (r.state === FIN_WAIT2) finWait2++;
  };
  readProcNetTcp('ipv4', visit);
  readProcNetTcp('ipv6', visit);
  const summary = builder.result(10);
  // One walk of /proc/*/fd gives both the listeners' owners and every process's descriptors.
  const { processes: holders, owners, hidden } = readProcessesWithLimits(new Set(summary.listeners.map((l) => l.inode)));
  annotateListeners(summary.listeners, await backlogs, owners);
  const ownerOf = new Map(summary.listeners.filter((l) => l.pid !== undefined).map((l) => [l.local.port, l]));
  const withOwner = (list: PortCount[]) =>
    list.map((p) => {
      const l = ownerOf.get(p.port);
      return l ? { ...p, process: l.process, pid: l.pid } : p;
    });
  const processes = holders.filter((p) => o.pid === undefined || p.pid === o.pid);
  const rootWouldAdd: string[] = [];
  if (hidden > 0) rootWouldAdd.push(`the sockets, owners and descriptor limits of ${hidden} processes of other users`);

  const names = SYSCTL_CATALOG.map((k) => k.name);
  const sysctls: Record<string, string | undefined> = {};
  for (const r of readSysctls(names)) sysctls[r.name] = r.present ? normalizeSysctlText(r.raw) : undefined;

  const remaining = o.durationS * 1000 - (performance.now() - started);
  if (remaining > 0) await sleep(remaining, undefined, { signal: o.signal }).catch(() => undefined);
  const after = flattenCounters(readCounters().counters);
  const durationS = Math.round((performance.now() - started) / 100) / 10;
  const deltas: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== undefined) deltas[k] = v - before[k]!;

  return {
    host: hostname(),
    kernel: release(),
    durationS,
    root: process.getuid?.() === 0,
    deltas,
    counters: after,
    sysctls,
    sockets: {
      total: summary.total,
      byState: summary.byState,
      listeners: summary.listeners,
      timeWaitServerSide: withOwner(top(twServer)),
      timeWaitClientSide: top(twClient),
      timeWaitServerTotal: [...twServer.values()].reduce((a, n) => a + n, 0),
      timeWaitClientTotal: [...twClient.values()].reduce((a, n) => a + n, 0),
      closeWait: withOwner(top(closeWait)),
      finWait2,
      ephemeral: summary.ephemeral,
    },
    processes,
    rootWouldAdd,
  };
}
