// What a bench run does to the kernel: socket samples from a worker thread, counter deltas around the run.

import { Worker } from 'node:worker_threads';
import { networkInterfaces } from 'node:os';
import { readCounters } from '../kernel/counters.ts';
import { readEphemeralRange } from '../kernel/ephemeral-range.ts';
import type { Counters } from '../model/counters.ts';
import type { KernelFootprint } from '../model/bench-result.ts';
import type { FootprintSample } from './footprint-worker.ts';

/** The counters whose movement a load run explains, as Section.Field. */
export const FOOTPRINT_COUNTERS = [
  'Tcp.ActiveOpens',
  'Tcp.PassiveOpens',
  'Tcp.AttemptFails',
  'Tcp.EstabResets',
  'Tcp.OutRsts',
  'Tcp.RetransSegs',
  'TcpExt.ListenOverflows',
  'TcpExt.ListenDrops',
  'TcpExt.TCPReqQFullDoCookies',
  'TcpExt.TCPReqQFullDrop',
  'TcpExt.SyncookiesSent',
  'TcpExt.TCPSynRetrans',
  'TcpExt.TCPTimeWaitOverflow',
  'TcpExt.TW',
  'TcpExt.TCPAbortOnData',
  'TcpExt.TCPAbortOnClose',
  'TcpExt.TCPAbortOnTimeout',
] as const;

export function isLocalAddress(address: string): boolean {
  if (address.startsWith('127.') || address === '::1') return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.address === address) return true;
  }
  return false;
}

export function counterDeltas(before: Counters, after: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of FOOTPRINT_COUNTERS) {
    const [section, field] = key.split('.') as [string, string];
    const a = before.sections[section]?.[field];
    const b = after.sections[section]?.[field];
    if (a !== undefined && b !== undefined) out[key] = b - a;
  }
  return out;
}

export interface FootprintHandle {
  /** Samples so far, newest last. */
  samples: FootprintSample[];
  /**
   * Settles once the sampler thread is up and has taken its first sample (or failed): wait for
   * it before starting the load, so starting a thread is not part of what the load measures.
   */
  ready: Promise<void>;
  stop(): Promise<KernelFootprint>;
}

/** Start sampling; undefined where the kernel cannot be read (not Linux). */
export function startFootprint(address: string, port: number, intervalMs = 1000): FootprintHandle | undefined {
  let before: Counters;
  let usable: number;
  try {
    before = readCounters().counters;
    usable = readEphemeralRange().usable;
  } catch {
    return undefined;
  }
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const worker = new Worker(new URL(`./footprint-worker${ext}`, import.meta.url), {
    workerData: { address, port, intervalMs },
  });
  const samples: FootprintSample[] = [];
  let finished: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  let started: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (started = resolve));
  worker.on('message', (m: FootprintSample | 'done') => {
    if (m === 'done') finished?.();
    else samples.push(m);
    started?.();
  });
  worker.on('error', () => {
    started?.();
    finished?.();
  });
  worker.on('exit', () => {
    started?.();
    finished?.();
  });
  return {
    samples,
    ready,
    async stop() {
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      await worker.terminate();
      const after = readCounters().counters;
      const peak = (f: (s: FootprintSample) => number) => samples.reduce((m, s) => Math.max(m, f(s)), 0);
      return {
        timeWaitPeak: peak((s) => s.timeWaitClient + s.timeWaitServer),
        timeWaitPeakClientSide: peak((s) => s.timeWaitClient),
        timeWaitPeakServerSide: peak((s) => s.timeWaitServer),
        // The first sample is taken before the load starts (see ready).
        timeWaitAtStart: samples.length ? samples[0]!.timeWaitClient + samples[0]!.timeWaitServer : 0,
        ephemeralPortsPeak: peak((s) => s.ephemeral),
        ephemeralPortsUsable: usable,
        samples: samples.length,
        counters: counterDeltas(before, after),
        targetIsLocal: isLocalAddress(address),
      };
    },
  };
}
