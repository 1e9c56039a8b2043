// Runs on a worker thread during a bench: once a second, scans the socket tables for the target's
// sockets, so the scan (costly with 50,000 TIME_WAIT sockets) never stalls the load loop.

import { parentPort, workerData } from 'node:worker_threads';
import { readProcNetTcp, remoteAddress, localAddress } from '../kernel/proc-net-tcp.ts';
import { stateCode } from '../model/tcp-state.ts';

export interface FootprintSample {
  t: number;
  /** TIME_WAIT with the target's port as the remote port: this host's client side. */
  timeWaitClient: number;
  /** TIME_WAIT with the target's port as the local port: the server side, when it runs here. */
  timeWaitServer: number;
  /** Sockets towards the target address and port, any state but LISTEN: local ports held. */
  ephemeral: number;
}

interface Config {
  port: number;
  address: string;
  intervalMs: number;
}

const cfg = workerData as Config;
const TIME_WAIT = stateCode('TIME_WAIT');
const LISTEN = stateCode('LISTEN');
const start = performance.now();

function sample(): FootprintSample {
  const s: FootprintSample = { t: (performance.now() - start) / 1000, timeWaitClient: 0, timeWaitServer: 0, ephemeral: 0 };
  for (const family of ['ipv4', 'ipv6'] as const) {
    readProcNetTcp(family, (row) => {
      if (row.remotePort === cfg.port) {
        if (row.state === LISTEN) return;
        // Formatting is the costly part: only for rows whose port already matched.
        if (remoteAddress(row) !== cfg.address) return;
        s.ephemeral++;
        if (row.state === TIME_WAIT) s.timeWaitClient++;
      } else if (row.localPort === cfg.port && row.state === TIME_WAIT && localAddress(row) === cfg.address) {
        s.timeWaitServer++;
      }
    });
  }
  return s;
}

// A scan costs the kernel about 4 µs per socket (50 ms with 10,000 TIME_WAIT sockets, as a
// close-mode run makes in seconds), on a core the server under test may need (measured: sampling
// every second cost a close-mode run 17% of its rate). Space scans at 80x their own cost (about 1%
// of a core), at most 5 s apart; the last scan, at the end of the run, catches the peak of a
// TIME_WAIT pile that only grows during a run shorter than 60 s.
let timer: NodeJS.Timeout | undefined;
function tick(): void {
  const t0 = performance.now();
  parentPort!.postMessage(sample());
  const cost = performance.now() - t0;
  timer = setTimeout(tick, Math.min(5 * cfg.intervalMs, Math.max(cfg.intervalMs, cost * 80)));
}
tick();
parentPort!.on('message', (m: string) => {
  if (m === 'stop') {
    clearTimeout(timer);
    parentPort!.postMessage(sample());
    parentPort!.postMessage('done');
  }
});
