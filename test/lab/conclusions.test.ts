// The conclusions are computed from the numbers: other numbers, another conclusion.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conclude as e1 } from '../../src/lab/experiments/e1-keepalive.ts';
import { conclude as e2 } from '../../src/lab/experiments/e2-time-wait.ts';
import { conclude as e3 } from '../../src/lab/experiments/e3-queue-overflow.ts';
import { conclude as e4, NOT_WAITED } from '../../src/lab/experiments/e4-resets.ts';
import { normalLatency } from '../../src/lab/experiments/e5-server-timeouts.ts';
import { abovePct, throughputVerdict, type Throughput } from '../../src/lab/experiments/e6-reuseport.ts';
import { conclude as e7 } from '../../src/lab/experiments/e7-pool.ts';
import { conclude as e8 } from '../../src/lab/experiments/e8-tls.ts';
import { conclude as e9, type CallerRun } from '../../src/lab/experiments/e9-chaos.ts';
import type { PoolRun } from '../../src/lab/scripts/e7-pool.ts';
import type { TlsMode } from '../../src/lab/scripts/e8-tls.ts';

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
  assert.match(good, /completed 990 requests and then connect\(\) failed with EADDRNOTAVAIL \(500 times\)/);
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

test('E2 says a --quick run did not watch TIME_WAIT to its end, and why a count is short of the connections made', () => {
  const rows = (o: { gone: number | null; sockets: number; rsts: number }): Record<string, string | number | null>[] => [
    { part: 'tcp_fin_timeout', setting: 'tcp_fin_timeout=60', state: 'TIME_WAIT', connections: 200, sockets: 200, timerS: 60, peerRsts: 0 },
    { part: 'tcp_fin_timeout', setting: 'tcp_fin_timeout=3', state: 'TIME_WAIT', connections: 200, sockets: o.sockets, timerS: 59.9, peerRsts: o.rsts, stillAfterS: 3.5, stillThere: o.sockets, goneAfterS: o.gone },
  ];
  const quick = e2(rows({ gone: null, sockets: 200, rsts: 0 }), '1000', 3.5);
  assert.match(quick, /200 of 200 TIME_WAIT sockets were still there 3.5 s later, past tcp_fin_timeout=3 \(not watched until they went/);
  assert.doesNotMatch(quick, /the last went after/);
  assert.doesNotMatch(quick, /left no TIME_WAIT/);
  const full = e2(rows({ gone: 61.9, sockets: 197, rsts: 3 }), '1000', 66);
  assert.match(full, /the last went after 61.9 s/);
  assert.match(full, /With tcp_fin_timeout=3: 3 of the 200 connections left no TIME_WAIT, and the server sent 3 RSTs meanwhile/);
  assert.match(full, /an RST that reaches a TIME_WAIT socket ends it at once \(tcp_rfc1337=0\)/);
});

test('E3 names the steps it saw and compares SYN cookies on and off', () => {
  const row = (syncookies: number, o: Record<string, number>) => ({
    syncookies, connections: 100, connected: 100, notConnected: 0, under0_5s: 100, near1s: 0, near2s: 0, near3s: 0, near4to6s: 0, near7s: 0,
    listenOverflows: 0, cookiesSent: 0, reqQFullDrop: 0, synRetrans: 0, ...o,
  });
  const flat = e3([row(1, {})], 3.5, '4');
  assert.match(flat, /with no SYN-retransmit step/);
  const steps = e3([row(1, { under0_5s: 10, near1s: 60, near3s: 30, listenOverflows: 400, served: 90 }), row(0, { connected: 40, notConnected: 60, reqQFullDrop: 200, served: 40 })], 3.5, '4');
  assert.match(steps, /60 at ~1 s, 30 at ~3 s/);
  assert.match(steps, /With SYN cookies connect\(\) succeeded for 100 of 100 clients within 3.5 s, without them for 40/);
});

test('E3 compares what the server answered, not what the client connected: cookies that only move the wait say so', () => {
  const row = (syncookies: number, o: Record<string, number | string>) => ({
    syncookies, connections: 100, connected: 100, notConnected: 0, served: 0, requestErrors: 'none', under0_5s: 8, near1s: 92, near2s: 0, near3s: 0,
    listenOverflows: 500, cookiesSent: 80, reqQFullDrop: 0, synRetrans: 92, ...o,
  });
  // The reviewer's run: 100 connected with cookies but 69 timed out; 35 connected without, 5 timed out.
  const rows = [row(1, { served: 31, requestErrors: 'timeout 69' }), row(0, { connected: 35, notConnected: 65, served: 30, requestErrors: 'timeout 5', cookiesSent: 0, reqQFullDrop: 220 })];
  const same = e3(rows, 3.5, '4');
  assert.match(same, /answered about as many requests either way \(31 with cookies, 30 without\)/);
  assert.match(same, /With cookies 69 of the 100 connected clients got no answer within 3.5 s \(timeout 69\); without them 5 of 35, and 65 never connected/);
  assert.match(same, /not by cookies/);
  assert.doesNotMatch(same, /100 of 100 connected within/);
  const more = e3([row(1, { served: 60, requestErrors: 'timeout 40' }), rows[1]!], 3.5, '4');
  assert.match(more, /answered more requests with them \(60 vs 30\)/);
  assert.doesNotMatch(more, /about as many/);
});

test('E4 reports a silent peer as not detected within the time it waited', () => {
  const rows = [
    { part: 'peer aborts (RST)', keepalive: 'off', detected: 'ECONNRESET', detectedAfterMs: 2 },
    { part: 'peer vanishes (link down)', keepalive: 'keepalive off', detected: 'nothing', detectedAfterMs: null },
  ];
  assert.match(e4(rows, 12), /ECONNRESET 2 ms after/);
  assert.match(e4(rows, 12), /keepalive off noticed nothing within 12 s/);
  assert.match(e4(rows, 12), /No keepalive setting detected the silent peer/);
});

test('E4 in --quick gives the libuv case as arithmetic, not as a silent peer that went unnoticed', () => {
  const rows = [
    { part: 'peer vanishes (link down)', keepalive: 'setKeepAlive(true, 1000)', keepaliveTimerS: 0.5, detected: NOT_WAITED, detectedAfterMs: null },
    { part: 'peer vanishes (link down)', keepalive: 'SO_KEEPALIVE, sysctls 1 s, 1 s x 3', keepaliveTimerS: 0.6, detected: 'ETIMEDOUT', detectedAfterMs: 3704 },
    { part: 'peer vanishes (link down)', keepalive: 'SO_KEEPALIVE, kernel defaults (7200 s, 75 s x 9)', keepaliveTimerS: 7199.6, detected: 'nothing within 3.8 s', detectedAfterMs: null },
  ];
  const text = e4(rows, 3.8);
  assert.match(text, /setKeepAlive\(true, 1000\) was not waited for in --quick: libuv waits 1 s idle, then sends 10 probes 1 s apart: about 11 s/);
  assert.match(text, /a full run measures it/);
  assert.match(text, /kernel defaults \(7200 s, 75 s x 9\) noticed nothing within 3.8 s/);
  assert.doesNotMatch(text, /setKeepAlive\(true, 1000\)[^.]*noticed nothing/);
  assert.match(text, /sysctls 1 s, 1 s x 3: ETIMEDOUT after 3.7 s/);
});

test('E5 keeps a median only when it stayed within a millisecond, and else says by how much it rose', () => {
  const lat = (p50Ms: number, p99Ms: number) => ({ p50Ms, p99Ms, errors: 0, errorCodes: {} });
  const rose = normalLatency(lat(1.14, 4), lat(2.52, 30), 500);
  assert.match(rose, /saw their median rise 1.38 ms, 2.2x \(1.14 → 2.52 ms\)/);
  assert.doesNotMatch(rose, /median within a millisecond/);
  assert.match(rose, /p99 rise 26 ms, 7.5x \(4 → 30 ms\)/);
  const kept = normalLatency(lat(0.48, 3.88), lat(0.54, 4.2), 200);
  assert.match(kept, /kept their median within a millisecond \(0.48 → 0.54 ms\) and kept their p99 within a millisecond/);
  assert.match(normalLatency(lat(1, 2), { ...lat(1, 2), errors: 3, errorCodes: { ECONNRESET: 3 } }, 10), /3 of them failed \(ECONNRESET 3\)/);
});

test('E6 says "above" as a share of the smaller number, and on 2 cores reports throughput as noise without a ranking', () => {
  assert.equal(abovePct(988, 466), 112);
  assert.equal(abovePct(466, 988), 112);
  const runs = (again: number): Throughput[] => [
    {
      what: 'New connections',
      unit: 'conn/s',
      values: [
        { key: 'single', label: 'one listener', perSecond: 988 },
        { key: 'cluster', label: 'node:cluster, 4 workers', perSecond: 786 },
        { key: 'reuseport', label: 'SO_REUSEPORT, 4 workers', perSecond: 466 },
      ],
      again,
    },
  ];
  const many = throughputVerdict(runs(900), 8);
  assert.match(many, /one listener led \(single 988, cluster 786, reuseport 466 conn\/s; 112% above reuseport, beyond the 20% that twice the repeat's difference allows\)/);
  const noisy = throughputVerdict(runs(450), 8);
  assert.match(noisy, /within the noise: the best 112% above the worst, where the one listener measured twice gave 988 then 450 \(120% apart\)/);
  const two = throughputVerdict(runs(900), 2);
  assert.match(two, /^Throughput is noise on this machine, not a ranking: its 2 cores/);
  assert.match(two, /988 then 900 \(10% apart\) conn\/s/);
  assert.doesNotMatch(two, /led|says little/);
  assert.equal(two.match(/noise/g)!.length, 1, 'says it once');
});

test('E7 rounds each number once, so the sentence and the row agree', () => {
  const run = (connections: number, waitP99: number): PoolRun => ({
    connections, requests: 139, completedPerSec: 136, elapsedMs: 1000, errors: {},
    queueWaitMs: { count: 139, p50: 0.1, p90: waitP99, p99: waitP99, max: waitP99, mean: 0.1 },
    latencyMs: { p50: 21, p99: 40, max: 50 }, loopDelayMs: { p50: 1, p99: 2.125, max: 3 }, peakQueued: 2, queued: [], connected: connections,
  });
  const small = { ...run(2, 504.58), queueWaitMs: { count: 139, p50: 245.5, p90: 500, p99: 504.58, max: 510, mean: 250 } };
  // 4.335 is 4.33499… in binary: toFixed(2) says 4.33, Math.round(x * 100) / 100 (the row) says 4.34.
  const text = e7({ serviceMs: 22, little: 3.3, rate: 150, runs: [small, run(4, 26.58), run(8, 4.335)] }, 150, 1000);
  assert.match(text, /and with 8 to 4.34 ms/);
  assert.match(text, /stayed at 2.13 \/ 2.13 \/ 2.13 ms/);
});

test('E8 counts a single keep-alive handshake in the singular', () => {
  const mode = (m: TlsMode['mode'], o: Partial<TlsMode>): TlsMode => ({
    mode: m, protocol: 'TLSv1.3', requests: 200, perSecond: 300, handshakes: 200, resumed: 0, errors: 0, handshakeMs: { p10: 1, p50: 1.2, p99: 3 }, tcpConnectMs: { p50: 0.1 }, ...o,
  });
  const modes = (ka: number): [TlsMode, TlsMode, TlsMode] => [mode('full', {}), mode('resumed', { resumed: 200, perSecond: 350, handshakeMs: { p10: 0.8, p50: 0.9, p99: 2 } }), mode('keepalive', { handshakes: ka, perSecond: 4000, requests: 3000 })];
  assert.match(e8(modes(1)), /with 1 handshake in all/);
  assert.match(e8(modes(8)), /with 8 handshakes in all/);
});

test('E9 reports the breaker’s cost at the median, its max against the timeout, and when it was only a timeout', () => {
  const caller = (breaker: boolean, o: Partial<CallerRun>): CallerRun => ({
    breaker, requests: 2000, ok: 2000, fromBackend: 2000, fallbacks: 0, timeouts: 0, shortCircuited: 0, breakerOpens: 0, errors: 0,
    latencyMs: { p50: 4, p90: 8, p99: 1600, max: 1950 }, durationMs: 9000, ...o,
  });
  const off = { caller: caller(false, {}), injected: 100, proxied: 2000 };
  const run = (o: Partial<CallerRun>) => ({ caller: caller(true, { latencyMs: { p50: 16.2, p90: 30, p99: 157, max: 273.6 }, durationMs: 2000, fallbacks: 100, timeouts: 100, ...o }), injected: 100, proxied: 2000 });
  const once = e9(run({ breakerOpens: 1 }), off);
  // As the table shows them (formatCell): 273.6 as 274, 4 as 4.
  assert.match(once, /max 274 ms, 1.8x its 150 ms timeout/);
  assert.doesNotMatch(once, /near its/);
  assert.match(once, /p50 16.2 ms with the breaker against 4 ms without \(\+12.2 ms\)/);
  assert.match(once, /It opened once but short-circuited no call: in this run the breaker acted only as a timeout/);
  const never = e9(run({ timeouts: 60, fallbacks: 60 }), off);
  assert.match(never, /The breaker never opened \(3.0% of calls timed out, under its 5% threshold\): in this run it acted only as a timeout/);
  const open = e9(run({ breakerOpens: 3, shortCircuited: 900, fallbacks: 1000, latencyMs: { p50: 4.5, p90: 9, p99: 150, max: 160 } }), off);
  assert.match(open, /It opened 3 times and answered 900 calls from the fallback without trying them/);
  assert.match(open, /max 160 ms, near its 150 ms timeout/);
  assert.match(open, /At the median it cost under a millisecond/);
});
