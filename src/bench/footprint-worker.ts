// Runs on a worker thread during a bench: once a second, scans the socket tables for the target's
// sockets, so the scan (costly with 50,000 TIME_WAIT sockets) never stalls the load loop.

import { parentPort, workerData } from 'node:worker_threads';
import { localAddress, remoteAddress } from '../kernel/socket-row.ts';
import { stateCode } from '../model/tcp-state.ts';
import { SIDE_CLIENT, SIDE_SERVER, scanHostSockets } from '../host/scan.ts';
import { type FootprintSample, sampleSpacingMs } from './footprint-sample.ts';

interface Config {
  port: number;
  address: string;
  intervalMs: number;
  /** ip_local_port_range at the start, and ip_local_reserved_ports (reserved[port] === 1). */
  low: number;
  high: number;
  reserved: Uint8Array;
}

const cfg = workerData as Config;
const LISTEN = stateCode('LISTEN');
const start = performance.now();
/** TCP_TIMEWAIT_LEN: every TIME_WAIT's timer starts at 60 s. */
const TIME_WAIT_MS = 60_000;

// Local ports already counted in this scan. The table is read a page (or a netlink batch) at a time
// while connections come and go, so a socket can be listed twice (a TIME_WAIT taken over by a new
// connection under tcp_tw_reuse shows up as both): count ports, not rows.
const seen = new Uint8Array(65536);
/** New TIME_WAIT are those begun after this moment (this thread's performance.now()). */
let sinceMs = start;

/**
 * A TIME_WAIT begun at c and listed by the kernel at r has 60 s - (r - c) left on its timer (in
 * 10 ms ticks): begun after sinceMs, it has more than 60 s - (r - sinceMs). r is taken as the moment
 * the row is read here, just after the kernel wrote it: a scan slowed by the load blurs nothing.
 */
function isNew(timerTicks: number): boolean {
  return timerTicks * 10 > TIME_WAIT_MS - (performance.now() - sinceMs);
}

function sample(): FootprintSample {
  const s: FootprintSample = {
    t: 0,
    atMs: 0,
    timeWaitClient: 0,
    timeWaitServer: 0,
    ephemeral: 0,
    timeWaitClientNew: 0,
    timeWaitServerNew: 0,
  };
  seen.fill(0);
  // The host's one scan decides each TIME_WAIT's side (host/time-wait-side.ts), as doctor and the exporter do.
  scanHostSockets({}, (row, side) => {
    if (row.state === LISTEN) return;
    if (row.remotePort === cfg.port && side !== SIDE_SERVER) {
      // Formatting is the costly part: only for rows whose port already matched.
      if (remoteAddress(row) !== cfg.address) return;
      const port = row.localPort;
      if (seen[port] === 1) return;
      seen[port] = 1;
      if (port >= cfg.low && port <= cfg.high && cfg.reserved[port] !== 1) s.ephemeral++;
      if (side === SIDE_CLIENT) {
        s.timeWaitClient++;
        if (isNew(row.timerTicks)) s.timeWaitClientNew++;
      }
    } else if (side === SIDE_SERVER && row.localPort === cfg.port && localAddress(row) === cfg.address) {
      s.timeWaitServer++;
      if (isNew(row.timerTicks)) s.timeWaitServerNew++;
    }
  });
  const now = performance.now();
  s.t = (now - start) / 1000;
  s.atMs = performance.timeOrigin + now;
  return s;
}

// A scan costs the kernel time for every socket (and a close-mode run makes tens of thousands of
// TIME_WAIT sockets in seconds), on a core the server under test may need. Scans run once a
// second (intervalMs) until one costs more than 5% of a core, then 20x their own cost apart (see
// sampleSpacingMs); the last scan, at the end of the run, catches the peak of a TIME_WAIT pile that
// only grows during a run shorter than 60 s.
let timer: NodeJS.Timeout | undefined;
// The cost is this thread's CPU time where Node can tell (22.x cannot): on a busy machine the wall
// time of a scan also counts the wait for a core, which would space the samples out for nothing.
const cpuMs: () => number =
  typeof process.threadCpuUsage === 'function'
    ? () => {
        const u = process.threadCpuUsage();
        return (u.user + u.system) / 1000;
      }
    : () => performance.now();
function tick(): void {
  const t0 = cpuMs();
  parentPort!.postMessage(sample());
  timer = setTimeout(tick, sampleSpacingMs(cpuMs() - t0, cfg.intervalMs));
}
tick();
parentPort!.on('message', (m: 'stop' | { mark: number }) => {
  if (typeof m === 'object') {
    // The measured part began at m.mark (ms since the epoch, the same clock on every thread).
    sinceMs = m.mark - performance.timeOrigin;
    parentPort!.postMessage({ ...sample(), mark: true });
  } else if (m === 'stop') {
    clearTimeout(timer);
    parentPort!.postMessage(sample());
    parentPort!.postMessage('done');
  }
});
