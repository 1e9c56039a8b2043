import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { Recorder } from '../../src/bench/recorder.ts';
import { summarize } from '../../src/bench/summarize.ts';
import { runData } from './run-data.ts';
import { mergeResults } from '../../src/bench/merge.ts';
import { describeConnectFailure, errorMeaning, oneLineMessage } from '../../src/bench/error-meanings.ts';
import { renderBench } from '../../src/render/bench.ts';
import { renderBenchHtml } from '../../src/render/bench-html.ts';
import type { BenchResult } from '../../src/model/bench-result.ts';
import { runCli } from '../helpers/cli.ts';
import { httpServer, hello } from '../helpers/servers.ts';

/** 1,000 answers at 1 ms and one at 41.334 ms: HDR's bucket for the slow one tops out at 41.343 ms. */
function slowTail(slowUs = 41_334): Recorder {
  const rec = new Recorder();
  for (let i = 0; i < 1000; i++) rec.response(200, 1);
  rec.response(200, slowUs / 1000);
  rec.connected(0.2, undefined);
  rec.tick(1);
  return rec;
}

const OPENSSL_WRONG_VERSION =
  'write EPROTO 401DCCD6AF7F0000:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../deps/openssl/openssl/ssl/record/methods/tlsany_meth.c:77:\n';

test('percentiles never exceed the max nor undercut the min, though HDR buckets do', () => {
  const rec = slowTail();
  // The histogram itself answers above the exact max: the case to guard against.
  assert.ok(rec.latency.getValueAtPercentile(99.99) > rec.latency.maxValue);
  const p = summarize(runData(rec)).latencyMs;
  assert.equal(p.max, 41.334);
  assert.equal(p.p9999, 41.334);
  for (const v of [p.p50, p.p75, p.p90, p.p99, p.p999, p.p9999]) assert.ok(v >= p.min && v <= p.max, JSON.stringify(p));

  // Two runs merged: the max comes from the runs (exact), the percentiles from the merged histogram.
  const merged = mergeResults([summarize(runData(slowTail(41_334))), summarize(runData(slowTail(41_330)))]).latencyMs;
  assert.equal(merged.max, 41.334);
  assert.ok(merged.p9999 <= merged.max, JSON.stringify(merged));
  assert.ok(merged.p50 >= merged.min, JSON.stringify(merged));
});

test('https against an http port: a meaning, and every message on one line', async () => {
  assert.equal(
    oneLineMessage(OPENSSL_WRONG_VERSION),
    'write EPROTO wrong version number (OpenSSL tls_validate_record_header)',
  );
  assert.equal(
    errorMeaning('EPROTO', OPENSSL_WRONG_VERSION),
    'the server does not speak TLS on this port: use http://',
  );
  const server = await httpServer(hello);
  try {
    const https = server.url.replace('http:', 'https:');
    const r = await runCli(['bench', https, '-n', '10', '-c', '2', '--no-kernel']);
    assert.equal(r.code, 1, r.stderr);
    // Node's TLS is the oracle: it saw no TLS on the port. The summary says so in one line.
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    assert.equal(lines.length, 2, r.stdout);
    assert.match(
      lines[1]!,
      /^Every one of 10 requests failed: EPROTO \(.*wrong version number.*\) — the server does not speak TLS on this port: use http:\/\/$/,
    );
    const json = JSON.parse(
      (await runCli(['bench', https, '-n', '4', '-c', '1', '--no-kernel', '--json'])).stdout,
    ) as BenchResult;
    for (const e of json.errorDetails) assert.doesNotMatch(e.first, /\n/);
    assert.match(json.verdict[0]!.text, /use http:\/\//);
  } finally {
    await server.close();
  }
});

test("a connect failure is said once: ENETUNREACH and its meaning, not the code and Node's message that repeats it", () => {
  const err = Object.assign(new Error('connect ENETUNREACH 198.18.5.5:80 - Local (0.0.0.0:0)'), {
    code: 'ENETUNREACH',
  });
  const line = `cannot reach 198.18.5.5:80: ${describeConnectFailure(err)}`;
  assert.equal(line, 'cannot reach 198.18.5.5:80: ENETUNREACH (no route to the network)');
  assert.equal(line.match(/ENETUNREACH/g)!.length, 1);
  assert.equal(
    describeConnectFailure({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }),
    'nothing listens there (ECONNREFUSED)',
  );
  assert.equal(describeConnectFailure({ code: 'EWHATEVER', message: 'connect EWHATEVER 1.2.3.4:5' }), 'EWHATEVER');
});

test('the errors table marks a cut message with an ellipsis; a short one stays whole', () => {
  const rec = new Recorder();
  rec.response(200, 1);
  const long = 'read ECONNRESET after the server had sent part of a response body of 1,048,576 bytes';
  rec.error('ECONNRESET', long);
  rec.error('EPIPE', 'write EPIPE');
  const text = renderBench(summarize(runData(rec)), false);
  const row = text.split('\n').find((l) => l.startsWith('ECONNRESET'))!;
  assert.ok(row.includes(`${long.slice(0, 59)}…`), row);
  assert.ok(!row.includes(long), row);
  assert.match(text.split('\n').find((l) => l.startsWith('EPIPE'))!, /write EPIPE(?!…)/);
});

test('one merged result is "1 result merged"', () => {
  const rec = slowTail();
  const r = { ...summarize(runData(rec)), merged: 1 };
  assert.match(renderBench(r, false), /, 1 result merged\n/);
  assert.match(renderBench({ ...r, merged: 3 }, false), /, 3 results merged\n/);
});

test('bench merge: a --compare file is explained, the same run twice refused with the file names, worker results still merge', () => {
  const a = summarize(runData(slowTail(40_000)));
  const b = summarize(runData(slowTail(30_000)));
  const compare = { runs: [a, { ...a, mode: 'close' }] } as unknown as BenchResult;
  assert.throws(() => mergeResults([a, compare], ['a.json', 'cmp.json']), {
    name: 'UsageError',
    message:
      /^cmp\.json holds the 2 runs of bench --compare \(keep-alive, close\), made one after the other: .*jq '\.runs\[0\]' cmp\.json$/,
  });
  assert.throws(() => mergeResults([a, compare]), { message: /^input 2 holds the 2 runs of bench --compare/ });
  assert.throws(() => mergeResults([a, b, a], ['a.json', 'b.json', 'a.json']), {
    name: 'UsageError',
    message: 'a.json is given twice: its requests would be counted twice',
  });
  assert.throws(() => mergeResults([a, JSON.parse(JSON.stringify(a))], ['a.json', 'copy.json']), {
    message: 'a.json and copy.json hold the same run: its requests would be counted twice',
  });
  assert.equal(mergeResults([a, b], ['a.json', 'b.json']).requests.total, 2002);
  // Threads of one run pass no names: two identical results there are two threads, both counted.
  assert.equal(mergeResults([a, a]).requests.total, 2002);
});

test('bench merge of a --compare file says what it holds, in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-merge-cmp-'));
  try {
    const a = summarize(runData(slowTail()));
    writeFileSync(join(dir, 'cmp.json'), JSON.stringify({ runs: [a, { ...a, mode: 'close' }] }));
    const r = await runCli(['bench', 'merge', join(dir, 'cmp.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^tcplens: .*holds the 2 runs of bench --compare \(keep-alive, close\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench merge refuses the same file given twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-merge-dup-'));
  try {
    const file = join(dir, 'a.json');
    writeFileSync(file, JSON.stringify(summarize(runData(slowTail()))));
    const r = await runCli(['bench', 'merge', file, file]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `tcplens: ${file} is given twice: its requests would be counted twice`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the HTML report labels connections opened, separates thousands, and mentions a warm-up', () => {
  const rec = slowTail();
  const r = summarize(runData(rec, { connections: 16 }));
  r.connectionsOpened = 64;
  r.kernel = {
    timeWaitPeak: 14_104,
    timeWaitPeakClientSide: 14_104,
    timeWaitPeakServerSide: 0,
    ephemeralPortsPeak: 14_104,
    ephemeralPortsUsable: 28_232,
    samples: 4,
    counters: {},
    targetIsLocal: true,
  };
  const page = renderBenchHtml([Object.assign(r, { warmupS: 2 })]);
  assert.match(page, /<th>connections opened<\/th>/);
  assert.match(page, /16 concurrent connections \(-c\)/);
  assert.match(page, /<td>14,104<\/td>/);
  assert.match(page, /measured after 2 s of warm-up/);
  assert.doesNotMatch(renderBenchHtml([summarize(runData(slowTail()))]), /warm-up/);
  // The percentile curve ends at the run's max, not at the top of the max's bucket.
  const curve = JSON.parse(/<script type="application\/json" id="data">(.*?)<\/script>/s.exec(page)![1]!)[0].curve;
  assert.ok(Math.max(...curve.y) <= r.latencyMs.max, `${Math.max(...curve.y)} > ${r.latencyMs.max}`);
  assert.ok(hdr.decodeFromCompressedBase64(r.histogram).getValueAtPercentile(99.999) / 1000 > r.latencyMs.max);
});
