// Doctor's findings from two samples: the counter deltas between them, the later one's sockets,
// and one walk of the processes' descriptors. What the sampler runs on its slower cadence.

import { release } from 'node:os';
import { readProcessesWithLimits as readProcesses, type SocketOwner } from '../kernel/processes.ts';
import { diagnose } from '../analyze/doctor/index.ts';
import type { DoctorSnapshot } from '../analyze/doctor/snapshot.ts';
import type { HostSample, SampleFindings } from './sample.ts';

/** The counters at the start of a window. */
export interface CounterBase {
  /** Epoch ms. */
  at: number;
  counters: Record<string, number>;
}

type Processes = DoctorSnapshot['processes'];

/** The snapshot doctor's rules read, for the window from `base` to `sample`. Pure. */
export function doctorSnapshotOf(base: CounterBase, sample: HostSample, processes: Processes, hiddenProcesses = 0): DoctorSnapshot {
  const deltas: Record<string, number> = {};
  for (const [k, v] of Object.entries(sample.counters)) {
    const before = base.counters[k];
    if (before !== undefined) deltas[k] = v - before;
  }
  const rootWouldAdd: string[] = [];
  if (hiddenProcesses > 0) rootWouldAdd.push(`the sockets, owners and descriptor limits of ${hiddenProcesses} processes of other users`);
  return {
    host: sample.host,
    kernel: release(),
    durationS: Math.round((sample.takenAt - base.at) / 100) / 10,
    root: process.getuid?.() === 0,
    deltas,
    counters: sample.counters,
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
}

/** Run doctor's rules over the window from base to sample. Reads /proc/<pid>/fd once. */
export function findingsOver(base: CounterBase, sample: HostSample): { findings: SampleFindings; owners: Map<number, SocketOwner> } {
  const { processes, owners, hidden } = readProcesses(new Set(sample.listeners.map((l) => l.inode)));
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

