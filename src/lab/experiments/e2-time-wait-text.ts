// E2's measurements as numbers, and what is said and drawn from them: the conclusion's sentences
// and the charts. The measuring is in e2-time-wait.ts; nothing here reads a formatted cell back.

import type { LabChart } from '../experiment.ts';
import { formatCount } from '../../text/number.ts';
import { round } from '../steps.ts';

/** Client ports left to the tcp_tw_reuse part (ip_local_port_range narrowed to this many). */
export const RANGE_PORTS = 100;

/** One tcp_tw_reuse setting's run of short connections from RANGE_PORTS client ports. */
export interface ReuseRun {
  reuse: 0 | 1;
  runS: number;
  ok: number;
  /** The end of the last second in which a request completed: where tcp_tw_reuse=0 ran out of ports. */
  lastOkS: number | null;
  /** Failed connect attempts, bench's retries included: not requests (connectErrors). */
  eaddrnotavail: number;
  timestamps: number | null;
}

/** The TIME_WAIT (or orphaned FIN_WAIT_2) sockets of connections closed with one tcp_fin_timeout. */
export interface FinRun {
  finTimeoutS: number;
  state: 'TIME_WAIT' | 'FIN_WAIT2';
  connections: number;
  sockets: number;
  /** Median remaining timer right after the close, as the kernel reports it. */
  timerS: number;
  /** RSTs the server sent meanwhile (Tcp.OutRsts of its namespace). */
  peerRsts: number;
  /** The short tcp_fin_timeout's TIME_WAIT watched after the close: first look, and when they were gone. */
  watch?: { stillAfterS: number; stillThere: number; lastSeenS: number | null; goneAfterS: number | null };
}

/** Connections closed first by one side, and the TIME_WAIT each side held after. */
export interface WhoRun {
  closer: 'client' | 'server';
  connections: number;
  clientTimeWait: number;
  serverTimeWait: number;
  /** RSTs of the passive closer; null on loopback, where both ends share the host's counters. */
  peerRsts: number | null;
}

export interface TimeWaitRuns {
  reuse: ReuseRun[];
  fin: FinRun[];
  who: WhoRun[];
}

/** "N of M … : the passive closer sent K RSTs" when a TIME_WAIT count is short of the connections made. */
function shortfall(held: number, made: number, rsts: number | null, peer: 'client' | 'server'): string {
  if (!(made > held)) return '';
  const n = made - held;
  return rsts !== null && rsts > 0
    ? ` ${n} of the ${made} connections left no TIME_WAIT, and the ${peer} sent ${rsts} RST${rsts === 1 ? '' : 's'} meanwhile (Tcp.OutRsts of its namespace): ` +
        `an RST that reaches a TIME_WAIT socket ends it at once (tcp_rfc1337=0). On this kernel the active closer now and then sends its final ACK twice, and the ${peer}, closed by the first, answers the second with an RST.`
    : ` ${n} of the ${made} connections left no TIME_WAIT that /proc/net/tcp listed, with no RST from the ${peer}.`;
}

/** "N requests went through in the first X s" from a reuse run. */
const okUntil = (r: ReuseRun) =>
  `${formatCount(r.ok)} request${r.ok === 1 ? '' : 's'} went through${r.lastOkS !== null ? ` in the first ${r.lastOkS} s` : ''}`;

/**
 * tcp_tw_reuse 0 against 1 by what tells them apart: the errors once the ports run out. Not a rate for 0: its
 * requests stop once each port has been used once, so ok / run length is only ports / run length. Nor
 * the raw EADDRNOTAVAIL counts: bench retries a failed connect after 10 ms doubling to 1 s, so they
 * count retries, and run higher where connects go on succeeding (each success resets the back-off).
 */
export function reuseText(r0: ReuseRun, r1: ReuseRun, reuseDelayMs: string | undefined): string {
  const runS = r0.runS;
  const ports = RANGE_PORTS;
  // Ran out: connects failed, and requests stopped at least a second before the run's end.
  const ranOut = (r: ReuseRun) => r.eaddrnotavail > 0 && r.lastOkS !== null && r.lastOkS < runS;
  const delayS = Number(reuseDelayMs ?? '1000') / 1000;
  const expected = round(ports / delayS, 0);
  const rate1 = round(r1.ok / runS, 0);
  const retries = ` bench retried each failed connect after 10 ms, doubling to 1 s: its EADDRNOTAVAIL counts (${r0.eaddrnotavail} with 0, ${r1.eaddrnotavail} with 1) count those retries, not demand.`;
  if (!ranOut(r0)) {
    return `With ${ports} client ports and tcp_tw_reuse=0 the ports did not run out in the ${runS} s run (${okUntil(r0)}; with 1, ${okUntil(r1)}), so it shows no difference.`;
  }
  const zero = `With ${ports} client ports and tcp_tw_reuse=0, ${okUntil(r0)}, then every connect() failed with EADDRNOTAVAIL for the rest of the ${runS} s run: each port stays in TIME_WAIT for 60 s.`;
  if (ranOut(r1)) {
    return `${zero} tcp_tw_reuse=1 did no better: ${okUntil(r1)}, then connects failed the same way;${retries}`;
  }
  return (
    `${zero} With tcp_tw_reuse=1 connections went on to the end: ${formatCount(r1.ok)} requests, ~${rate1} per second, ` +
    `where reuse allows at most ${ports} ports / ${delayS} s = ${expected} per second — connect() may take over a TIME_WAIT port once its last timestamp is ` +
    `${reuseDelayMs ?? '1000'} ms old (tcp_tw_reuse_delay).${retries.replace(' bench', ' Bench')}`
  );
}

/**
 * watchS: how long after the close the short-fin_timeout TIME_WAIT sockets were watched (--quick
 * watches only past fin_timeout, not for TIME_WAIT's 60 s).
 */
export function conclude(runs: TimeWaitRuns, reuseDelayMs: string | undefined, watchS = 66): string {
  const parts: string[] = [];
  const r0 = runs.reuse.find((r) => r.reuse === 0);
  const r1 = runs.reuse.find((r) => r.reuse === 1);
  if (r0 && r1) parts.push(reuseText(r0, r1, reuseDelayMs));
  const tw60 = runs.fin.find((r) => r.state === 'TIME_WAIT' && r.finTimeoutS === 60);
  const twShort = runs.fin.find((r) => r.state === 'TIME_WAIT' && r.finTimeoutS !== 60);
  const fw = runs.fin.find((r) => r.state === 'FIN_WAIT2');
  if (tw60 && twShort) {
    const short = twShort.finTimeoutS;
    const same = Math.abs(twShort.timerS - tw60.timerS) < 5;
    parts.push(
      same
        ? `tcp_fin_timeout=${short} left TIME_WAIT as long as 60 did: the kernel's timers read ${twShort.timerS} s and ${tw60.timerS} s right after the close` +
            `${fw ? `, while an orphaned FIN_WAIT_2 socket's read ${fw.timerS} s — that is what tcp_fin_timeout bounds` : ''}.`
        : `tcp_fin_timeout changed the TIME_WAIT timer here: ${twShort.timerS} s with ${short} against ${tw60.timerS} s with 60.`,
    );
    const w = twShort.watch;
    if (w) {
      const gone = w.goneAfterS;
      parts.push(
        `${w.stillThere} of ${twShort.sockets} TIME_WAIT sockets were still there ${w.stillAfterS} s later, past tcp_fin_timeout=${short}` +
          (gone !== null
            ? w.lastSeenS !== null
              ? `; the last went between ${w.lastSeenS} and ${gone} s after the close (two counts in a row).`
              : `; all gone ${gone} s after the close.`
            : watchS < 60
              ? ` (not watched until they went: that takes TIME_WAIT's 60 s, longer than --quick waits).`
              : `; some were still there ${watchS} s after the close.`),
      );
    }
    for (const r of [tw60, twShort]) {
      const note = shortfall(r.sockets, r.connections, r.peerRsts, 'server');
      if (note) parts.push(`With tcp_fin_timeout=${r.finTimeoutS}:${note}`);
    }
  }
  const cf = runs.who.find((r) => r.closer === 'client');
  const sf = runs.who.find((r) => r.closer === 'server');
  if (cf && sf) {
    const holds = (r: WhoRun) =>
      r.clientTimeWait > r.serverTimeWait
        ? 'the client'
        : r.serverTimeWait > r.clientTimeWait
          ? 'the server'
          : 'neither side more';
    parts.push(
      `When the client closed first ${holds(cf)} held TIME_WAIT (${cf.clientTimeWait} client, ${cf.serverTimeWait} server sockets); ` +
        `when the server closed first ${holds(sf)} did (${sf.clientTimeWait} client, ${sf.serverTimeWait} server).`,
    );
    const cfNote = shortfall(cf.clientTimeWait, cf.connections, cf.peerRsts, 'server');
    const sfNote = shortfall(sf.serverTimeWait, sf.connections, sf.peerRsts, 'client');
    if (cfNote) parts.push(`Client first:${cfNote}`);
    if (sfNote) parts.push(`Server first:${sfNote}`);
  }
  return parts.join(' ');
}

export const reuseSetting = (r: ReuseRun) => `tcp_tw_reuse=${r.reuse}`;
export const finSetting = (r: FinRun) => `tcp_fin_timeout=${r.finTimeoutS}`;
export const whoSetting = (r: WhoRun) => `${r.closer} closes first`;

export function charts(
  runs: TimeWaitRuns,
  timeline: [number, number][],
  durationS: number,
  finShortS: number,
): LabChart[] {
  const out: LabChart[] = [];
  if (runs.reuse.length) {
    out.push({
      title: `tcp_tw_reuse with ${RANGE_PORTS} client ports: requests completed in ${durationS} s of short connections`,
      kind: 'bar',
      xLabel: 'setting',
      yLabel: 'requests',
      series: [{ label: 'completed', points: runs.reuse.map((r) => [reuseSetting(r), r.ok]) }],
    });
  }
  if (runs.fin.length) {
    out.push({
      title: 'Remaining timer right after the close, as the kernel reports it (/proc/net/tcp)',
      kind: 'bar',
      xLabel: 'socket',
      yLabel: 'seconds',
      series: [{ label: 'timer (median)', points: runs.fin.map((r) => [`${r.state} ${finSetting(r)}`, r.timerS]) }],
    });
  }
  if (timeline.length > 1) {
    out.push({
      title: `TIME_WAIT sockets over time with tcp_fin_timeout=${finShortS}`,
      kind: 'line',
      xLabel: 'seconds after the close',
      yLabel: 'sockets',
      series: [{ label: 'TIME_WAIT', points: timeline }],
    });
  }
  if (runs.who.length) {
    out.push({
      title: 'Who holds TIME_WAIT',
      kind: 'bar',
      xLabel: 'closing order',
      yLabel: 'TIME_WAIT sockets',
      series: [
        { label: 'client side', points: runs.who.map((r) => [whoSetting(r), r.clientTimeWait]) },
        { label: 'server side', points: runs.who.map((r) => [whoSetting(r), r.serverTimeWait]) },
      ],
    });
  }
  return out;
}
