// The conclusions are computed from the numbers: other numbers, another conclusion.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conclude as e1 } from '../../src/lab/experiments/e1-keepalive.ts';
import { conclude as e2 } from '../../src/lab/experiments/e2-time-wait.ts';
import { conclude as e3 } from '../../src/lab/experiments/e3-queue-overflow.ts';
import { conclude as e4 } from '../../src/lab/experiments/e4-resets.ts';

const e1Row = (mode: string, portRange: string, o: Record<string, number>) => ({ mode, portRange, rps: 1000, p99Ms: 5, timeWaitPeak: 0, portsPerSec: 0, errors: 0, eaddrnotavail: 0, ok: 1500, connections: 4, ...o });

test('E1 says whether the TIME_WAIT ratio reached 100x and whether close mode ran out of ports', () => {
  const good = e1(
    [
      e1Row('keepalive', '32768-60999', { timeWaitPeak: 5, rps: 5000 }),
      e1Row('close', '32768-60999', { timeWaitPeak: 1500, portsPerSec: 800 }),
      e1Row('keepalive', '20000-20999', { timeWaitPeak: 5 }),
      e1Row('close', '20000-20999', { eaddrnotavail: 500, ok: 990 }),
    ],
    4,
  );
  assert.match(good, /1,500 client TIME_WAIT sockets at peak against 5 .*\(300x\)/);
  assert.match(good, /failed 500 with EADDRNOTAVAIL/);
  const bad = e1(
    [
      e1Row('keepalive', '32768-60999', { timeWaitPeak: 50 }),
      e1Row('close', '32768-60999', { timeWaitPeak: 500, rps: 2000 }),
      e1Row('keepalive', '20000-20999', {}),
      e1Row('close', '20000-20999', {}),
    ],
    4,
  );
  assert.match(bad, /10x, under the 100x/);
  assert.match(bad, /Close mode served more requests per second/);
  assert.match(bad, /the range did not run out/);
});

test('E2 says when tcp_fin_timeout did change the TIME_WAIT timer and who held TIME_WAIT', () => {
  const rows = (tw5: number): Record<string, string | number>[] => [
    { part: 'tcp_tw_reuse', setting: 'tcp_tw_reuse=0', connsPerSec: 50, ok: 100, eaddrnotavail: 900 },
    { part: 'tcp_tw_reuse', setting: 'tcp_tw_reuse=1', connsPerSec: 50, ok: 100, eaddrnotavail: 900 },
    { part: 'tcp_fin_timeout', setting: 'tcp_fin_timeout=60', state: 'TIME_WAIT', sockets: 50, timerS: 59.9 },
    { part: 'tcp_fin_timeout', setting: 'tcp_fin_timeout=5', state: 'TIME_WAIT', sockets: 50, timerS: tw5 },
    { part: 'who closes first', setting: 'client closes first', clientTimeWait: 0, serverTimeWait: 100 },
    { part: 'who closes first', setting: 'server closes first', clientTimeWait: 0, serverTimeWait: 100 },
  ];
  const same = e2(rows(59.9), '1000');
  assert.match(same, /left TIME_WAIT as long as 60 did/);
  assert.match(same, /tcp_tw_reuse=1 made no clear difference/);
  assert.match(same, /When the client closed first the server held TIME_WAIT/);
  assert.match(e2(rows(4.9), '1000'), /tcp_fin_timeout changed the TIME_WAIT timer here: 4.9 s/);
});

test('E3 names the steps it saw and compares SYN cookies on and off', () => {
  const row = (syncookies: number, o: Record<string, number>) => ({
    syncookies, connections: 100, connected: 100, notConnected: 0, under0_5s: 100, near1s: 0, near2s: 0, near3s: 0, near4to6s: 0, near7s: 0,
    listenOverflows: 0, cookiesSent: 0, reqQFullDrop: 0, synRetrans: 0, ...o,
  });
  const flat = e3([row(1, {})], 3.5, '4');
  assert.match(flat, /with no SYN-retransmit step/);
  const steps = e3([row(1, { under0_5s: 10, near1s: 60, near3s: 30, listenOverflows: 400 }), row(0, { connected: 40, notConnected: 60, reqQFullDrop: 200 })], 3.5, '4');
  assert.match(steps, /60 at ~1 s, 30 at ~3 s/);
  assert.match(steps, /With SYN cookies 100 of 100 connected within 3.5 s, without them 40/);
});

test('E4 reports a silent peer as not detected within the time it waited', () => {
  const rows = [
    { case: 'peer aborts (RST)', keepalive: 'off', detected: 'ECONNRESET', detectedAfterMs: 2 },
    { case: 'peer vanishes (link down)', keepalive: 'keepalive off', detected: 'nothing', detectedAfterMs: null },
  ];
  assert.match(e4(rows, 12), /ECONNRESET 2 ms after/);
  assert.match(e4(rows, 12), /keepalive off noticed nothing within 12 s/);
  assert.match(e4(rows, 12), /No keepalive setting detected the silent peer/);
});
