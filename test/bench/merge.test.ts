import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../../src/bench/recorder.ts';
import { summarize, type RunData } from '../../src/bench/summarize.ts';
import { mergeResults } from '../../src/bench/merge.ts';
import { runCli } from '../helpers/cli.ts';

function data(rec: Recorder, connections: number): RunData {
  return {
    target: 'http://127.0.0.1:8080/',
    mode: 'keepalive',
    method: 'GET',
    connections,
    pipelining: 1,
    workers: 1,
    durationS: 10,
    latency: rec.latency,
    connect: rec.connect,
    tls: rec.tls,
    tlsUsed: false,
    statuses: rec.statuses,
    errors: rec.errors,
    ok: rec.ok,
    completed: rec.completed,
    failed: rec.failed,
    bytesRead: rec.bytesRead,
    connectionsOpened: rec.connectionsOpened,
    timeline: rec.timeline,
  };
}

test('merging two runs equals one run over the union of their samples (histograms, not averaged percentiles)', () => {
  const a = new Recorder();
  const b = new Recorder();
  const all = new Recorder();
  let seed = 3;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let second = 1; second <= 5; second++) {
    for (let i = 0; i < 2000; i++) {
      // Two machines with different latency: the merged p99 is not the mean of the two p99s.
      const first = i % 2 === 0;
      const ms = first ? 1 + rand() * 4 : 20 + rand() * 200;
      const status = rand() < 0.05 ? 503 : 200;
      (first ? a : b).response(status, ms);
      all.response(status, ms);
      if (i % 500 === 0) {
        (first ? a : b).error('ECONNRESET', 'read ECONNRESET');
        all.error('ECONNRESET', 'read ECONNRESET');
      }
    }
    a.tick(second);
    b.tick(second);
    all.tick(second);
  }
  for (const r of [a, b, all]) r.connected(1, undefined);
  all.connected(1, undefined);
  const merged = mergeResults([summarize(data(a, 32)), summarize(data(b, 32))]);
  const expected = summarize(data(all, 64));
  assert.deepEqual(merged.latencyMs, expected.latencyMs);
  assert.deepEqual(merged.requests, expected.requests);
  assert.deepEqual(merged.statuses, expected.statuses);
  assert.deepEqual(merged.errors, expected.errors);
  assert.deepEqual(
    merged.timeline.map((p) => [p.t, p.requests, p.errors, p.p50Ms, p.p99Ms]),
    expected.timeline.map((p) => [p.t, p.requests, p.errors, p.p50Ms, p.p99Ms]),
  );
  assert.equal(merged.connections, 64);
  assert.equal(merged.merged, 2);
  const pa = summarize(data(a, 32)).latencyMs.p99;
  const pb = summarize(data(b, 32)).latencyMs.p99;
  assert.notEqual(merged.latencyMs.p99, (pa + pb) / 2);
});

test('bench merge refuses mixed modes and foreign files with one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-merge-'));
  try {
    const rec = new Recorder();
    rec.response(200, 1);
    const ka = summarize(data(rec, 1));
    const close = { ...ka, mode: 'close' };
    writeFileSync(join(dir, 'a.json'), JSON.stringify(ka));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(close));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ hello: 1 }));
    let r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'b.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot merge keep-alive and close runs/);
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'c.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /written by tcplens bench --json/);
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'a.json'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).requests.total, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
