// How a result reads when it is not a plain success: interrupted, given up, no connection at all,
// failed connects beside failed requests, warm-up connections, runs shorter than a second.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../../src/bench/recorder.ts';
import { summarize, type RunData } from '../../src/bench/summarize.ts';
import { runData } from './run-data.ts';
import { portsPerSecond } from '../../src/bench/verdict.ts';
import { renderBench, renderCompare } from '../../src/render/bench.ts';
import { renderBenchHtml } from '../../src/render/bench-html.ts';
import { progressLine } from '../../src/cli/bench.ts';
import type { BenchResult } from '../../src/model/bench-result.ts';

function data(rec: Recorder, over: Partial<RunData> = {}): RunData {
  return runData(rec, { durationS: 3.2, ...over });
}

/** 100 answers over 4 connections. */
function answered(): Recorder {
  const rec = new Recorder();
  for (let i = 0; i < 4; i++) rec.connected(0.1, undefined);
  for (let i = 0; i < 100; i++) rec.response(200, 1);
  rec.tick(1);
  return rec;
}

/** Every connect refused, n times: no request was ever sent. */
function refused(n: number): Recorder {
  const rec = new Recorder();
  for (let i = 0; i < n; i++) rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080');
  rec.tick(1);
  return rec;
}

const lines = (text: string) => text.split('\n');

test('an interrupted run is marked partial, with its length, in the table, --compare and the HTML header', () => {
  const r: BenchResult = { ...summarize(data(answered())), interrupted: true };
  const text = renderBench(r, false);
  assert.equal(lines(text)[1], 'Interrupted after 3.2 s (Ctrl-C): a partial result');
  assert.match(text, /Requests {3}100 total, 100 ok/, 'what was measured is still shown');
  const whole = summarize(data(answered()));
  assert.doesNotMatch(renderBench(whole, false), /Interrupted|partial/);
  const compare = renderCompare([whole, { ...r, mode: 'close' }], false);
  assert.match(compare, /\nclose: interrupted after 3\.2 s \(Ctrl-C\): a partial result\n/);
  assert.doesNotMatch(compare, /keep-alive: interrupted/);
  const page = renderBenchHtml([r]);
  assert.match(page, /<p class="partial">interrupted after 3\.2 s \(Ctrl-C\): a partial result<\/p>/);
  assert.doesNotMatch(renderBenchHtml([whole]), /class="partial"/);
});

test('a -n run that gave up says so, and how many requests it sent', () => {
  const rec = answered();
  for (let i = 0; i < 40; i++) rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080');
  const r: BenchResult = { ...summarize(data(rec)), gaveUp: true };
  const text = renderBench(r, false);
  assert.equal(
    lines(text)[1],
    'Gave up after 3.2 s: every connection attempt failed for --connect-timeout in a row, so fewer requests than -n were sent (100)',
  );
  assert.match(text, /Connections 4 opened, 40 failed to connect/);
  assert.match(renderBenchHtml([r]), /<p class="partial">gave up after 3\.2 s: every connection attempt failed/);
});

test('a run where every connect failed: "no connection could be opened", never "every one of 0 requests failed"', () => {
  const r: BenchResult = { ...summarize(data(refused(32))), gaveUp: true };
  assert.equal(r.requests.total, 0);
  assert.equal(r.connectErrors, 32);
  assert.equal(r.errors.ECONNREFUSED, 32);
  const text = renderBench(r, false);
  assert.match(
    text,
    /\nNo connection could be opened \(32 attempts\): ECONNREFUSED \(connect ECONNREFUSED 127\.0\.0\.1:8080\) — nothing listens/,
  );
  assert.doesNotMatch(text, /Every one of|Requests {3}0 total/);
  assert.match(r.verdict[0]!.text, /^no connection could be opened: 32 attempts failed with ECONNREFUSED/);
  assert.equal(r.verdict[0]!.severity, 'critical');
  const one = summarize(data(refused(1)));
  assert.match(renderBench(one, false), /No connection could be opened \(1 attempt\)/);
  assert.match(one.verdict[0]!.text, /^no connection could be opened: 1 attempt failed/);
});

test('every request failed and connects failed too: both are said, apart', () => {
  const rec = refused(32);
  rec.error('ECONNRESET', 'read ECONNRESET', 4);
  const r = summarize(data(rec));
  assert.equal(r.requests.total, 4);
  assert.equal(r.requests.failed, 4);
  const text = renderBench(r, false);
  assert.match(
    text,
    /\nEvery one of 4 requests failed, and 32 connection attempts: ECONNREFUSED .*\n {2}also ECONNRESET ×4: read ECONNRESET\n/,
  );
  assert.match(r.verdict[0]!.text, /^every request failed, and 32 connection attempts: ECONNREFUSED/);
});

test('failed connects beside answered requests are worded as attempts, not requests, in the verdict and the --compare errors column', () => {
  const rec = answered();
  rec.error('ECONNRESET', 'read ECONNRESET', 9);
  for (let i = 0; i < 64; i++) rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080');
  const r = summarize(data(rec));
  assert.equal(r.requests.total, 109);
  assert.match(
    r.verdict[0]!.text,
    /^9 of 109 requests and 64 of 68 connection attempts failed \(94%\), 64 with ECONNREFUSED/,
  );
  const row = lines(renderCompare([r], false)).find((l) => l.startsWith('keep-alive'))!;
  assert.match(row, / 73$/, 'errors: 9 failed requests and 64 failed connects');
});

test('after --warmup, the connections warm-up opened are shown as such, not as "0 opened", and are no churn', () => {
  const rec = answered();
  // What the engine does at the end of warm-up: start over, then note the connections that stay open.
  rec.reset();
  rec.connectionsFromWarmup = 4;
  for (let i = 0; i < 100; i++) rec.response(200, 1);
  rec.tick(1);
  const r = summarize(data(rec, { warmupS: 2 }));
  assert.equal(r.connectionsOpened, 0);
  assert.equal(r.connectionsFromWarmup, 4);
  const text = renderBench(r, false);
  assert.match(lines(text)[0]!, /, 3\.2 s after 2 s of warm-up$/);
  assert.match(text, /\nConnections 0 opened, 4 open from warm-up\n/);
  assert.equal(portsPerSecond(r), 0);
  assert.match(renderBenchHtml([r]), /<td>0 \(\+4 open from warm-up\)<\/td>/);
  // One reconnect during the measured part is churn.
  assert.ok(portsPerSecond({ ...r, connectionsOpened: 1 }) > 0);
  assert.equal(
    portsPerSecond({ ...r, connectionsFromWarmup: undefined, connectionsOpened: 4 }),
    0,
    'without warm-up the first 4 are the pool',
  );
  const k = {
    timeWaitPeak: 0,
    timeWaitPeakClientSide: 0,
    timeWaitPeakServerSide: 0,
    ephemeralPortsPeak: 4,
    ephemeralPortsUsable: 28_232,
    samples: 3,
    counters: {},
    targetIsLocal: true,
  };
  const withKernel = summarize(data(rec, { warmupS: 2, kernel: k }));
  assert.match(
    withKernel.verdict.map((v) => v.text).join('\n'),
    /keep-alive: 100 requests over 4 connections \(4 open from warm-up\)/,
  );
  const single = summarize(data(answered(), { kernel: k, connectionsOpened: 1 }));
  assert.match(single.verdict.map((v) => v.text).join('\n'), /over 1 connection;/);
});

test('a run shorter than a second shows milliseconds, not "0.0 s"', () => {
  const short = summarize(data(answered(), { durationS: 0.015 }));
  assert.match(lines(renderBench(short, false))[0]!, /, 15 ms$/);
  assert.match(renderCompare([short], false), /, 15 ms each/);
  assert.match(renderBenchHtml([short]), / · 15 ms per run/);
  assert.match(lines(renderBench(summarize(data(answered(), { durationS: 0.9996 })), false))[0]!, /, 1\.0 s$/);
  assert.match(lines(renderBench(summarize(data(answered(), { durationS: 12.34 })), false))[0]!, /, 12\.3 s$/);
});

test('the live line says how old its TIME_WAIT count is once scans space out, and counts failed connects', () => {
  const p = {
    elapsedS: 7,
    completed: 1000,
    failed: 2,
    connectErrors: 0,
    lastSecondRequests: 150,
    lastSecondP99Ms: 1.5,
    timeWait: 14_000,
    timeWaitAgeS: 0.4,
  };
  assert.equal(progressLine(p), '7s  150 req/s  p99 1.50 ms  done 1,000  errors 2  TIME_WAIT 14,000');
  assert.equal(
    progressLine({ ...p, timeWaitAgeS: 4.2 }),
    '7s  150 req/s  p99 1.50 ms  done 1,000  errors 2  TIME_WAIT 14,000 (4 s ago)',
  );
  assert.equal(
    progressLine({ ...p, connectErrors: 31, timeWait: undefined, timeWaitAgeS: undefined }),
    '7s  150 req/s  p99 1.50 ms  done 1,000  errors 2  failed connects 31',
  );
});
