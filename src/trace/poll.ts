// The fallback of `tcplens trace` without root or bpftrace: snapshots of /proc/net/tcp{,6} diffed into sampled transitions.
//
// A connection is followed by its 4-tuple (listeners also by inode, as SO_REUSEPORT ones share it),
// not by inode: the inode becomes 0 when the kernel hands the connection to a timewait socket, and
// the tuple is what links FIN_WAIT2 to TIME_WAIT. What this cannot see: any state that starts and
// ends between two snapshots (SYN_SENT, SYN_RECV, FIN_WAIT1, LAST_ACK usually last microseconds on a
// LAN), the order of several changes within one interval, resets and retransmits.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { addressBytes, formatAddress, readProcNetTcp, type TcpRow } from '../kernel/proc-net-tcp.ts';
import { procRootDir } from '../kernel/proc-root.ts';
import type { Family } from '../model/socket.ts';
import { stateCode, stateName } from '../model/tcp-state.ts';
import { matchesFilter, type TraceEvent, type TraceFilter, type TraceHandle, type TraceSink } from './event.ts';

export interface PollOptions extends TraceFilter {
  /** Time between snapshots, ms. */
  intervalMs: number;
  procRoot?: string;
}

interface Tracked {
  family: Family;
  key: string;
  state: number;
  /** When this state was first seen; null for the state a socket had in the first snapshot. */
  sinceMs: number | null;
  pid: number | null;
  comm: string | null;
}

const LISTEN = stateCode('LISTEN');
const CLOSE = 'CLOSE';

/** The processes' socket inodes, for --pid: read from /proc/<pid>/fd on every snapshot (cheap for a few pids). */
function ownedInodes(pids: readonly number[], procRoot: string): Map<number, { pid: number; comm: string | null }> {
  const owned = new Map<number, { pid: number; comm: string | null }>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    let comm: string | null = null;
    try {
      comm = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
    } catch {
      // keep the pid without a name
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
        if (link.startsWith('socket:[')) owned.set(Number(link.slice(8, -1)), { pid, comm });
      } catch {
        // closed meanwhile
      }
    }
  }
  return owned;
}

function endpoints(t: Tracked): { saddr: string; sport: number; daddr: string; dport: number } {
  // key: LOCALHEX:PORT REMOTEHEX:PORT[#inode], as the kernel prints them.
  const addrLen = t.family === 'ipv4' ? 8 : 32;
  const buf = Buffer.from(t.key, 'latin1');
  const remoteAt = addrLen + 6;
  return {
    saddr: formatAddress(addressBytes(buf, 0, t.family)),
    sport: parseInt(t.key.slice(addrLen + 1, addrLen + 5), 16),
    daddr: formatAddress(addressBytes(buf, remoteAt, t.family)),
    dport: parseInt(t.key.slice(remoteAt + addrLen + 1, remoteAt + addrLen + 5), 16),
  };
}

/**
 * One poller's memory of the last snapshot. `snapshot` reads the tables once and returns the
 * transitions since the previous one (none for the first, which is the baseline).
 */
export function createPoller(o: Omit<PollOptions, 'intervalMs'>) {
  const procRoot = o.procRoot ?? procRootDir();
  let previous: Map<string, Tracked> | undefined;
  const portOk = (row: TcpRow) =>
    (!o.ports?.length || o.ports.includes(row.localPort) || o.ports.includes(row.remotePort)) &&
    (!o.sports?.length || o.sports.includes(row.localPort)) &&
    (!o.dports?.length || o.dports.includes(row.remotePort));

  return {
    snapshot(nowMs = Date.now()): TraceEvent[] {
      const owned = o.pids?.length ? ownedInodes(o.pids, procRoot) : undefined;
      const current = new Map<string, Tracked>();
      const out: TraceEvent[] = [];
      const emit = (t: Tracked, oldState: number | null, newState: string, ms: number | null) => {
        const e: TraceEvent = {
          timeMs: nowMs,
          type: 'state',
          pid: t.pid,
          comm: t.comm,
          family: t.family,
          ...endpoints(t),
          oldState: oldState === null ? null : stateName(oldState),
          newState: newState as TraceEvent['newState'],
          ms,
          sampled: true,
          sk: t.key,
        };
        if (matchesFilter(e, o)) out.push(e);
      };
      let view: Buffer | undefined;
      let viewOf: Uint8Array | undefined;
      for (const family of ['ipv4', 'ipv6'] as const) {
        const addrLen = family === 'ipv4' ? 8 : 32;
        readProcNetTcp(
          family,
          (row) => {
            if (!portOk(row)) return;
            if (row.buf !== viewOf) {
              viewOf = row.buf;
              view = Buffer.from(row.buf.buffer, row.buf.byteOffset, row.buf.byteLength);
            }
            let key = view!.toString('latin1', row.localAt, row.remoteAt + addrLen + 5);
            if (row.state === LISTEN) key += `#${row.inode}`;
            const owner = row.inode ? owned?.get(row.inode) : undefined;
            const seen = previous?.get(key);
            if (seen && seen.family === family) {
              if (owner) {
                seen.pid = owner.pid;
                seen.comm = owner.comm;
              }
              if (seen.state !== row.state) {
                emit(
                  { ...seen, state: row.state },
                  seen.state,
                  stateName(row.state),
                  seen.sinceMs === null ? null : nowMs - seen.sinceMs,
                );
                seen.state = row.state;
                seen.sinceMs = nowMs;
              }
              current.set(key, seen);
              return;
            }
            const t: Tracked = {
              family,
              key,
              state: row.state,
              sinceMs: previous ? nowMs : null,
              pid: owner?.pid ?? null,
              comm: owner?.comm ?? null,
            };
            current.set(key, t);
            if (previous) emit(t, null, stateName(row.state), null);
          },
          `${procRoot}/net/${family === 'ipv4' ? 'tcp' : 'tcp6'}`,
        );
      }
      if (previous) {
        for (const [key, t] of previous) {
          if (!current.has(key)) emit(t, t.state, CLOSE, t.sinceMs === null ? null : nowMs - t.sinceMs);
        }
      }
      previous = current;
      return out;
    },
  };
}

/** Poll every intervalMs until closed; the first snapshot, taken now, is the baseline. */
export function startPoll(o: PollOptions, sink: TraceSink): TraceHandle {
  if (!(o.intervalMs >= 1)) throw new UsageError(`--interval must be at least 1 ms, not ${o.intervalMs}`);
  const poller = createPoller(o);
  poller.snapshot();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const { promise: done, resolve: resolveDone, reject: rejectDone } = Promise.withResolvers<void>();
  done.catch(() => {});
  // Each snapshot is scheduled from the start of the previous one, so the interval holds however long a read takes.
  let next = Date.now() + o.intervalMs;
  const tick = () => {
    if (closed) return;
    try {
      for (const e of poller.snapshot()) sink.event(e);
      sink.flush?.();
    } catch (err) {
      closed = true;
      rejectDone(err as Error);
      return;
    }
    const now = Date.now();
    next = Math.max(next + o.intervalMs, now + 1);
    timer = setTimeout(tick, next - now);
  };
  timer = setTimeout(tick, o.intervalMs);
  return {
    backend: 'poll',
    lostEvents: () => 0,
    missedEvents: () => 0,
    done,
    close: async () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      resolveDone();
    },
  };
}
