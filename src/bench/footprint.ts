// What a bench run does to the kernel: socket samples from a worker thread, counter deltas around the run.

import { Worker } from 'node:worker_threads';
import { networkInterfaces } from 'node:os';
import { readCounters } from '../kernel/counters.ts';
import { readEphemeralRange, type EphemeralRange } from '../kernel/ephemeral-range.ts';
import { parseSysctlInt, readSysctl } from '../kernel/sysctl.ts';
import type { Counters } from '../model/counters.ts';
import type { KernelFootprint, TimeWaitReuse, TimelinePoint } from '../model/bench-result.ts';
import type { FootprintSample } from './footprint-sample.ts';

export type { FootprintSample } from './footprint-sample.ts';
export { sampleSpacingMs } from './footprint-sample.ts';

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

/** What tcp_tw_reuse=2 calls loopback: the kernel checks for 127.0.0.0/8 and ::1 (also v4-mapped). */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  return a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');
}

/** The knobs that decide TIME_WAIT reuse towards this address; undefined where they cannot be read. */
export function readTimeWaitReuse(address: string): TimeWaitReuse | undefined {
  try {
    const int = (name: string) => {
      const r = readSysctl(name);
      return r.present ? parseSysctlInt(r.raw, name) : undefined;
    };
    const tcpTwReuse = int('net.ipv4.tcp_tw_reuse');
    const tcpTimestamps = int('net.ipv4.tcp_timestamps');
    if (tcpTwReuse === undefined || tcpTimestamps === undefined) return undefined;
    // Kernels before tcp_tw_reuse_delay (6.13) reuse once the timestamp clock's second has turned: at most 1 s.
    const delayMs = int('net.ipv4.tcp_tw_reuse_delay') ?? 1000;
    return { tcpTwReuse, tcpTimestamps, delayMs, targetIsLoopback: isLoopbackAddress(address) };
  } catch {
    return undefined;
  }
}

/**
 * The newest sample taken by atMs (plus half a second, as a second's figure is read at its end),
 * unless it is older than maxAgeMs: a stale count is worse than none, so the caller shows a gap.
 */
export function sampleAt(
  samples: readonly FootprintSample[],
  atMs: number,
  maxAgeMs = 1500,
): FootprintSample | undefined {
  let found: FootprintSample | undefined;
  for (const s of samples) if (s.atMs <= atMs + 500) found = s;
  return found && atMs - found.atMs <= maxAgeMs ? found : undefined;
}

/**
 * Puts the kernel's counts on the timeline: each second (t, seconds since the measured part began
 * at measuredFromMs, ms since the epoch) takes the sample of its end. Samples are timed on the
 * same clock (performance.timeOrigin + now() on their thread), so a warm-up before the measured
 * part, or a sampler started earlier, shifts nothing.
 */
export function placeSamples(
  timeline: TimelinePoint[],
  samples: readonly FootprintSample[],
  measuredFromMs: number,
): void {
  for (const point of timeline) {
    const k = sampleAt(samples, measuredFromMs + point.t * 1000);
    if (k) {
      point.timeWait = k.timeWaitClient + k.timeWaitServer;
      point.ephemeralPorts = k.ephemeral;
    }
  }
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
  /** The newest sample and its age in ms (for a live line: mark it stale when it is over ~1.5 s old). */
  latest(): { sample: FootprintSample; ageMs: number } | undefined;
  /**
   * Settles once the sampler thread is up and has taken its first sample (or failed): wait for
   * it before starting the load, so starting a thread is not part of what the load measures.
   */
  ready: Promise<void>;
  /**
   * The measured part begins now (end of warm-up): counter deltas and TIME_WAIT counts start from
   * here, so nothing warm-up did is counted. Without a call, the start of sampling is the baseline.
   */
  markMeasuring(atMs: number): void;
  stop(): Promise<KernelFootprint>;
}

/**
 * Peaks and baselines of the measured part: from the sample marked at the end of warm-up (else the
 * first, taken before the load starts: see ready). Pure.
 */
export function summarizeSamples(
  all: readonly FootprintSample[],
): Pick<
  KernelFootprint,
  | 'timeWaitPeak'
  | 'timeWaitPeakClientSide'
  | 'timeWaitPeakServerSide'
  | 'timeWaitAtStart'
  | 'timeWaitAtStartClientSide'
  | 'timeWaitAtStartServerSide'
  | 'timeWaitAdded'
  | 'timeWaitAddedClientSide'
  | 'timeWaitAddedServerSide'
  | 'ephemeralPortsPeak'
> {
  const from = Math.max(
    0,
    all.findIndex((s) => s.mark),
  );
  const samples = all.slice(from);
  const base = samples[0];
  const peak = (f: (s: FootprintSample) => number) => samples.reduce((m, s) => Math.max(m, f(s)), 0);
  // What was there when measuring began: the baseline's TIME_WAIT that began before it.
  const startClient = base ? base.timeWaitClient - base.timeWaitClientNew : 0;
  const startServer = base ? base.timeWaitServer - base.timeWaitServerNew : 0;
  return {
    timeWaitPeak: peak((s) => s.timeWaitClient + s.timeWaitServer),
    timeWaitPeakClientSide: peak((s) => s.timeWaitClient),
    timeWaitPeakServerSide: peak((s) => s.timeWaitServer),
    timeWaitAtStart: startClient + startServer,
    timeWaitAtStartClientSide: startClient,
    timeWaitAtStartServerSide: startServer,
    // This run's own, by their timers: not a peak minus a start, which a scan slowed by the load blurs.
    timeWaitAdded: peak((s) => s.timeWaitClientNew + s.timeWaitServerNew),
    timeWaitAddedClientSide: peak((s) => s.timeWaitClientNew),
    timeWaitAddedServerSide: peak((s) => s.timeWaitServerNew),
    ephemeralPortsPeak: peak((s) => s.ephemeral),
  };
}

/** Start sampling; undefined where the kernel cannot be read (not Linux). */
export function startFootprint(address: string, port: number, intervalMs = 1000): FootprintHandle | undefined {
  let before: Counters;
  let range: EphemeralRange;
  try {
    before = readCounters().counters;
    range = readEphemeralRange();
  } catch {
    return undefined;
  }
  const reuse = readTimeWaitReuse(address);
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const worker = new Worker(new URL(`./footprint-worker${ext}`, import.meta.url), {
    workerData: { address, port, intervalMs, low: range.low, high: range.high, reserved: range.reserved },
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
    latest() {
      const sample = samples.at(-1);
      return sample && { sample, ageMs: performance.timeOrigin + performance.now() - sample.atMs };
    },
    ready,
    markMeasuring(atMs) {
      try {
        before = readCounters().counters;
      } catch {
        // Kept from the start: a counter read that fails now failed nowhere else.
      }
      worker.postMessage({ mark: atMs });
    },
    async stop() {
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      await worker.terminate();
      const after = readCounters().counters;
      const f = summarizeSamples(samples);
      const footprint: KernelFootprint = {
        ...f,
        ephemeralPortsUsable: range.usable,
        samples: samples.length,
        counters: counterDeltas(before, after),
        targetIsLocal: isLocalAddress(address),
      };
      if (reuse) footprint.timeWaitReuse = reuse;
      return footprint;
    },
  };
}
