// A sampler that shares one host sample among concurrent readers (what the exporter scrapes and the
// dashboard streams), with doctor's findings recomputed on a slower cadence.

import { flattenCounters, readCounters } from '../kernel/counters.ts';
import {
  DEFAULT_TOP_N,
  ListenerDetails,
  takeHostSample,
  type HostSample,
  type PeerRtt,
  type SampleFindings,
  type SampleOptions,
} from './sample.ts';
import { findingsOver, type CounterBase } from './doctor-snapshot.ts';

export interface SamplerOptions extends Pick<SampleOptions, 'topN' | 'source'> {
  /** A sample younger than this is handed out again instead of taking a new one. Default 0. */
  minIntervalMs?: number;
  /**
   * Doctor's findings are recomputed at most this often (default 10 s), over the window since the
   * previous computation: each needs a walk of every process's descriptors, too much for every
   * sample. They are computed just after a sample is handed out and ride on the samples after it.
   * 0 turns findings off.
   */
  findingsIntervalMs?: number;
  /**
   * Per-peer RTT and retransmits (HostSample.peerRtt): every intervalMs at most, a sample's one scan
   * asks for every connection's tcp_info too; the samples between carry the latest reading. A reading
   * that takes long is taken less often, so that it never takes more than a fifth of the time.
   * Absent: never. topN defaults to the sampler's.
   */
  peerRtt?: { intervalMs: number; topN?: number };
}

export interface Sampler {
  /** A sample no older than minIntervalMs; concurrent callers share the one being taken. */
  get(): Promise<HostSample>;
  /** The last sample taken, if any, without taking one. */
  latest(): HostSample | undefined;
  /** Drops what the sampler holds; a get() after close() rejects. */
  close(): void;
}

const FIRST_WINDOW_MS = 1000;

export function createSampler(options: SamplerOptions = {}): Sampler {
  const topN = options.topN ?? DEFAULT_TOP_N;
  const minIntervalMs = options.minIntervalMs ?? 0;
  const findingsIntervalMs = options.findingsIntervalMs ?? 10_000;
  // A first window needs a beginning: the counters now.
  // (The sampler's findings leave out the tcp_info rules: they need every connection's tcp_info on
  // each sample, which a scrape at 100,000 sockets should not pay for.)
  let base: CounterBase | undefined;
  if (findingsIntervalMs > 0) base = { at: Date.now(), counters: flattenCounters(readCounters().counters) };
  const details = new ListenerDetails();
  let last: HostSample | undefined;
  let lastEndedAt = -Infinity;
  let inflight: Promise<HostSample> | undefined;
  let findings: SampleFindings | undefined;
  let closed = false;

  let findingsPending = false;

  const peerRtt = options.peerRtt;
  let peerTriedAt = -Infinity;
  let peerCostMs = 0;
  let latestPeers: PeerRtt | undefined;
  let peerProblem: string | undefined;

  // Findings run after the sample is handed out (setImmediate: the scrape's or the frame's answer
  // leaves first), so the walk of every process's descriptors never lengthens a get(). The next
  // samples carry them.
  function maybeFindings(sample: HostSample): void {
    // The first window may be shorter (up to 1 s) so that findings show soon after a start.
    const due = findings ? findingsIntervalMs : Math.min(findingsIntervalMs, FIRST_WINDOW_MS);
    if (!base || findingsPending || sample.takenAt - base.at < due) return;
    findingsPending = true;
    const from = base;
    setImmediate(() => {
      try {
        if (closed) return;
        const result = findingsOver(from, sample);
        details.learnOwners(result.owners);
        findings = result.findings;
        base = { at: sample.takenAt, counters: sample.counters };
      } catch {
        // the previous findings stay; the next due sample tries again
      } finally {
        findingsPending = false;
      }
    });
  }

  async function take(): Promise<HostSample> {
    const now = performance.now();
    const peersDue = peerRtt !== undefined && now - peerTriedAt >= Math.max(peerRtt.intervalMs, 5 * peerCostMs);
    if (peersDue) peerTriedAt = now;
    const sample = await takeHostSample(
      { topN, source: options.source, ...(peersDue ? { peerRtt: { topN: peerRtt.topN ?? topN } } : {}) },
      details,
    );
    if (peersDue) {
      peerCostMs = sample.durationMs;
      latestPeers = sample.peerRtt;
      peerProblem = sample.peerRttProblem;
    }
    if (latestPeers) sample.peerRtt = latestPeers;
    if (peerProblem !== undefined) sample.peerRttProblem = peerProblem;
    if (findings) sample.findings = findings;
    maybeFindings(sample);
    return sample;
  }

  return {
    get() {
      if (closed) return Promise.reject(new Error('sampler closed'));
      if (inflight) return inflight;
      if (last && performance.now() - lastEndedAt < minIntervalMs) return Promise.resolve(last);
      inflight = take().then(
        (sample) => {
          last = sample;
          lastEndedAt = performance.now();
          inflight = undefined;
          return sample;
        },
        (err: unknown) => {
          inflight = undefined;
          throw err;
        },
      );
      return inflight;
    },
    latest: () => last,
    close() {
      closed = true;
      last = undefined;
      base = undefined;
      latestPeers = undefined;
    },
  };
}
