// From host samples (src/observe/sample.ts) to what the dashboard's page draws: one frame per
// sample, counter rates from the previous one, and doctor's findings when the sampler renews them.

import { counterKind } from '../analyze/counter-delta.ts';
import type { PortCount } from '../analyze/doctor/snapshot.ts';
import type { ReasonSource, ReasonTotals } from '../model/reason-totals.ts';
import type { Group } from '../analyze/socket-query.ts';
import { createSampler, type HostSample, type PeerRtt, type TopList } from './sample.ts';
import type {
  DashboardFindings,
  DashboardFrame,
  PeerRttView,
  PeerView,
  PortCountView,
  ReasonFrame,
  RttFrame,
  TopView,
} from './dashboard-protocol.ts';

/** Counter changes per second between two samples; a counter that went down (wrapped) counts 0. */
export function counterRates(prev: HostSample, cur: HostSample): Record<string, number> {
  const seconds = (cur.takenAt - prev.takenAt) / 1000;
  const out: Record<string, number> = {};
  if (seconds <= 0) return out;
  for (const [k, v] of Object.entries(cur.counters)) {
    // Levels (CurrEstab, sockstat's sockets now) are not events: no rate.
    const dot = k.lastIndexOf('.');
    if (counterKind(k.slice(0, dot), k.slice(dot + 1)) === 'gauge') continue;
    const before = prev.counters[k];
    if (before !== undefined) out[k] = Math.max(0, v - before) / seconds;
  }
  return out;
}

/** Most counters stand still from one second to the next: send only those that moved. */
function moved(rates: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(rates)) if (v !== 0) out[k] = v;
  return out;
}

function portList(top: PortCount[], total: number): TopView<PortCountView> {
  const shown = top.reduce((a, p) => a + p.count, 0);
  return { top: top.map((p) => ({ ...p })), other: Math.max(0, total - shown), total };
}

function fromTopList(
  list: TopList<number>,
  owners: Map<number, { process?: string; pid?: number }>,
): TopView<PortCountView> {
  return {
    top: list.top.map(({ key, count }) => {
      const o = owners.get(key);
      return o?.process ? { port: key, count, process: o.process, pid: o.pid } : { port: key, count };
    }),
    other: list.other,
    total: list.total,
  };
}

function peers(s: HostSample): PeerView[] {
  const byAddress = new Map<string, PeerView>();
  const row = (address: string) => {
    let p = byAddress.get(address);
    if (!p) byAddress.set(address, (p = { address, established: null, timeWait: null }));
    return p;
  };
  for (const { key, count } of s.established.byPeer.top) row(key).established = count;
  for (const { key, count } of s.timeWait.byPeer.top) row(key).timeWait = count;
  return [...byAddress.values()].sort(
    (a, b) => (b.established ?? 0) + (b.timeWait ?? 0) - ((a.established ?? 0) + (a.timeWait ?? 0)),
  );
}

/** A trace's totals under the page's keys: "drop NAME", "reset sent NAME", "reset received". */
export function reasonKeys(t: ReasonTotals): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, n] of Object.entries(t.drops)) out[`drop ${reason}`] = n;
  for (const [reason, n] of Object.entries(t.resetsSent)) out[`reset sent ${reason}`] = n;
  out['reset received'] = t.resetsReceived;
  return out;
}

/** The reasons' frame at `nowMs`, with rates from the previous one (taken at `prevMs`). Pure. */
export function reasonFrameOf(
  t: ReasonTotals,
  nowMs: number,
  prev: { totals: Record<string, number>; atMs: number } | undefined,
): ReasonFrame {
  const totals = reasonKeys(t);
  let rates: Record<string, number> | null = null;
  const seconds = prev ? (nowMs - prev.atMs) / 1000 : 0;
  if (prev && seconds > 0) {
    rates = {};
    for (const [k, v] of Object.entries(totals)) {
      const moved = v - (prev.totals[k] ?? 0);
      if (moved > 0) rates[k] = moved / seconds;
    }
  }
  return { rates, totals, lostEvents: t.lostEvents, running: t.running };
}

const peerView = (g: Group): PeerRttView => ({
  peer: g.key,
  connections: g.count,
  rttMedianMs: g.rttMedianMs ?? null,
  rttP99Ms: g.rttP99Ms ?? null,
  retransmits: g.totalRetrans ?? 0,
});

/** What the page shows of a tcp_info reading, or why there is none. Pure. */
export function rttFrameOf(p: PeerRtt | undefined, why: string | undefined): RttFrame | null {
  if (!p) return why === undefined ? null : { why, connections: 0, p50Ms: null, p90Ms: null, p99Ms: null, peers: [] };
  return {
    why: null,
    connections: p.rtt.count,
    p50Ms: p.rtt.p50Ms,
    p90Ms: p.rtt.p90Ms,
    p99Ms: p.rtt.p99Ms,
    peers: (p.rest ? [...p.peers, p.rest] : p.peers).map(peerView),
  };
}

/** The frame of sample `cur`; `prev` (the sample before) gives the rates. Pure. */
export function frameOf(
  cur: HostSample,
  prev: HostSample | undefined,
  reasons: ReasonFrame | null = null,
  rtt: RttFrame | null = null,
): DashboardFrame {
  const owners = new Map(cur.listeners.filter((l) => l.process !== undefined).map((l) => [l.local.port, l]));
  const e = cur.ephemeral;
  return {
    t: cur.takenAt / 1000,
    sampleMs: Math.round(cur.durationMs),
    sockets: { total: cur.sockets.total, byState: { ...cur.sockets.byState }, byFamily: { ...cur.sockets.byFamily } },
    ephemeral: e
      ? {
          low: e.range.low,
          high: e.range.high,
          usable: e.usable,
          inUse: e.portsInUse,
          destinations: e.destinations.map((d) => ({
            address: d.remote.address,
            port: d.remote.port,
            ports: d.ports,
            timeWait: d.timeWait,
            share: d.share,
          })),
        }
      : null,
    rates: prev ? moved(counterRates(prev, cur)) : null,
    listeners: cur.listeners.map((l) => ({
      address: l.local.address,
      port: l.local.port,
      family: l.family,
      queue: l.queue,
      maxQueue: l.maxQueue,
      fill: l.fill,
      process: l.process,
      pid: l.pid,
    })),
    timeWaitClientSide: portList(cur.closing.timeWaitClientSide, cur.closing.timeWaitClientTotal),
    timeWaitServerSide: portList(cur.closing.timeWaitServerSide, cur.closing.timeWaitServerTotal),
    establishedLocal: fromTopList(cur.established.byLocalPort, owners),
    establishedRemote: fromTopList(cur.established.byRemotePort, new Map()),
    peers: peers(cur),
    reasons,
    rtt,
  };
}

export function findingsOf(s: HostSample): DashboardFindings | null {
  const f = s.findings;
  return f ? { t: f.computedAt / 1000, windowS: f.windowS, findings: f.findings, rootWouldAdd: f.rootWouldAdd } : null;
}

export interface FrameSource {
  /** Take a sample: its frame, and the findings it carries (renewed every findingsIntervalMs). */
  next(): Promise<{ frame: DashboardFrame; findings: DashboardFindings | null }>;
  close(): void;
}

export function createFrameSource(
  o: { topN?: number; findingsIntervalMs?: number; reasons?: ReasonSource; rttIntervalMs?: number } = {},
): FrameSource {
  // Per-peer RTT a little under the sampling interval, so that every sample (not every other one) reads it.
  const sampler = createSampler({
    topN: o.topN,
    findingsIntervalMs: o.findingsIntervalMs,
    peerRtt: { intervalMs: (o.rttIntervalMs ?? 1000) * 0.9 },
  });
  let prev: HostSample | undefined;
  let prevReasons: { totals: Record<string, number>; atMs: number } | undefined;
  return {
    async next() {
      const cur = await sampler.get();
      let reasons: ReasonFrame | null = null;
      if (o.reasons) {
        const atMs = Date.now();
        reasons = reasonFrameOf(o.reasons.totals(), atMs, prevReasons);
        prevReasons = { totals: reasons.totals, atMs };
      }
      const frame = frameOf(cur, prev, reasons, rttFrameOf(cur.peerRtt, cur.peerRttProblem));
      prev = cur;
      return { frame, findings: findingsOf(cur) };
    },
    close: () => sampler.close(),
  };
}
