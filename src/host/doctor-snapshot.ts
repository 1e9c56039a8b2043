// Doctor's snapshot as a projection of host samples: the counters at the start of a window, a host
// sample at its end, and one walk of the processes' descriptors. `tcplens doctor` and the sampler
// behind exporter and dashboard both diagnose through it.

import { release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { flattenCounters, readCounters } from '../kernel/counters.ts';
import { readProcessesWithLimits, sameNetworkNamespace, type SocketOwner } from '../kernel/processes.ts';
import { NetlinkUnavailableError } from '../errors.ts';
import type { SocketSource } from '../kernel/socket-table.ts';
import type { Listener } from '../analyze/socket-summary.ts';
import { diagnose } from '../analyze/doctor/index.ts';
import type { DoctorSnapshot } from '../analyze/doctor/snapshot.ts';
import {
  ListenerDetails,
  takeHostSample,
  type HostSample,
  type ListenerAnnotator,
  type SampleFindings,
} from './sample.ts';
import { ConnectionWindow, readConnections } from './connections.ts';

/** The counters at the start of a window. */
export interface CounterBase {
  /** Epoch ms. */
  at: number;
  counters: Record<string, number>;
}

export function counterBase(): CounterBase {
  return { at: Date.now(), counters: flattenCounters(readCounters().counters) };
}

type Processes = DoctorSnapshot['processes'];

/**
 * The snapshot doctor's rules read, for the window from `base` to `sample`. Pure. `end` gives the
 * counters at the window's end when they were read after the sample (doctor's own window).
 */
export function doctorSnapshotOf(
  base: CounterBase,
  sample: HostSample,
  processes: Processes,
  hiddenProcesses = 0,
  end?: CounterBase,
): DoctorSnapshot {
  const last = end ?? { at: sample.takenAt, counters: sample.counters };
  const deltas: Record<string, number> = {};
  for (const [k, v] of Object.entries(last.counters)) {
    const before = base.counters[k];
    if (before !== undefined) deltas[k] = v - before;
  }
  const rootWouldAdd: string[] = [];
  if (hiddenProcesses > 0)
    rootWouldAdd.push(`the sockets, owners and descriptor limits of ${hiddenProcesses} processes of other users`);
  const snapshot: DoctorSnapshot = {
    host: sample.host,
    kernel: release(),
    durationS: Math.round((last.at - base.at) / 100) / 10,
    root: process.getuid?.() === 0,
    deltas,
    counters: last.counters,
    sysctls: sample.sysctls,
    sockets: {
      total: sample.sockets.total,
      byState: sample.sockets.byState,
      listeners: sample.listeners,
      ...sample.closing,
      ephemeral: sample.ephemeral && {
        range: sample.ephemeral.range,
        reservedInRange: sample.ephemeral.reservedInRange,
        usable: sample.ephemeral.usable,
        portsInUse: sample.ephemeral.portsInUse,
        destinations: sample.ephemeral.destinations,
      },
    },
    processes,
    rootWouldAdd,
  };
  if (sample.connections) snapshot.connections = sample.connections;
  return snapshot;
}

/** Run doctor's rules over the window from base to sample. Reads /proc/<pid>/fd once. */
export function findingsOver(
  base: CounterBase,
  sample: HostSample,
): { findings: SampleFindings; owners: Map<number, SocketOwner> } {
  const { processes, owners, hidden } = readProcessesWithLimits(
    new Set(sample.listeners.map((l) => l.inode)),
    10,
    sameNetworkNamespace(),
  );
  const snapshot = doctorSnapshotOf(base, sample, processes, hidden);
  return {
    findings: {
      computedAt: sample.takenAt,
      windowS: snapshot.durationS,
      findings: diagnose(snapshot),
      rootWouldAdd: snapshot.rootWouldAdd,
    },
    owners,
  };
}

export interface DoctorWindowOptions {
  durationS: number;
  /** Only sockets with this port at either end. */
  port?: number;
  /** Only the sockets of this process (and TIME_WAIT on its listening ports). */
  pid?: number;
  source?: SocketSource;
  signal?: AbortSignal;
  /** Told once, in a line, when netlink cannot be used and the tcp_info rules are left out. */
  onNote?: (text: string) => void;
}

/**
 * Listeners' maxima (from ss when /proc was read) and owners, and every process's descriptors, from
 * one walk of /proc/*\/fd: what doctor's snapshot needs besides the sample.
 */
class DoctorListeners implements ListenerAnnotator {
  processes: Processes = [];
  hidden = 0;
  private readonly maxima = new ListenerDetails(0);
  private readonly pid: number | undefined;
  constructor(pid: number | undefined) {
    this.pid = pid;
  }
  async annotate(listeners: Listener[]): Promise<void> {
    // Processes of other network namespaces hold none of the sockets read here (a doctor run inside
    // a container or a namespace is about that namespace).
    const { processes, owners, hidden } = readProcessesWithLimits(
      new Set(listeners.map((l) => l.inode)),
      10,
      sameNetworkNamespace(),
    );
    this.maxima.learnOwners(owners);
    await this.maxima.annotate(listeners, false);
    this.processes = processes.filter((p) => this.pid === undefined || p.pid === this.pid);
    this.hidden = hidden;
  }
}

/**
 * `tcplens doctor`'s window: the counters and every connection's tcp_info at the start, one host
 * sample as late in the window as it can be taken and still end with it, the counters again at the
 * end.
 */
export async function collectDoctorSnapshot(o: DoctorWindowOptions): Promise<DoctorSnapshot> {
  const base = counterBase();
  const started = performance.now();
  let window: ConnectionWindow | undefined;
  // /proc chosen (--source proc, or a /proc root of the caller's, TCPLENS_PROC): the tcp_info rules are simply not run.
  const procChosen = o.source === 'proc' || ((o.source ?? 'auto') === 'auto' && process.env.TCPLENS_PROC !== undefined);
  if (!procChosen) {
    window = new ConnectionWindow();
    try {
      readConnections(window, o.source);
    } catch (err) {
      if (!(err instanceof NetlinkUnavailableError) || o.source === 'netlink') throw err;
      window = undefined;
      o.onNote?.(
        `reading /proc/net/tcp instead of netlink, so without the tcp_info rules (retransmits per peer, limited senders, stuck send queues): ${err.message}`,
      );
    }
  }
  // The socket tables and /proc are read inside the window, as late as they can be and still end
  // with it: with 100,000 sockets that work takes most of a second, and the run should last the
  // window, not the window plus the work. sockstat's counts (cheap) tell how long it will take.
  const tcp = (k: string) => base.counters[`sockstat.TCP.${k}`] ?? 0;
  const estimateMs = 300 + (tcp('inuse') + tcp('tw') + (base.counters['sockstat.TCP6.inuse'] ?? 0)) * 0.015;
  const waitFirst = o.durationS * 1000 - estimateMs - (performance.now() - started);
  if (waitFirst > 0) await sleep(waitFirst, undefined, { signal: o.signal }).catch(() => undefined);
  const listeners = new DoctorListeners(o.pid);
  const sample = await takeHostSample(
    { topN: 10, port: o.port, pid: o.pid, source: o.source, connections: window },
    listeners,
  );
  const remaining = o.durationS * 1000 - (performance.now() - started);
  if (remaining > 0) await sleep(remaining, undefined, { signal: o.signal }).catch(() => undefined);
  const end = counterBase();
  return doctorSnapshotOf(base, sample, listeners.processes, listeners.hidden, end);
}
