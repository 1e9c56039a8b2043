import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../../src/bench/recorder.ts';
import { summarize, type RunData } from '../../src/bench/summarize.ts';
import { runData } from './run-data.ts';
import { mergeResults } from '../../src/bench/merge.ts';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';

function data(rec: Recorder, connections: number): RunData {
  return runData(rec, { connections, durationS: 10 });
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

test('bench merge refuses mixed modes, foreign files and the same file twice with one line', async () => {
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
    // The same run twice would count its requests twice.
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'a.json'), '--json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /a\.json is given twice/);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    rec.response(200, 2);
    writeFileSync(join(dir, 'd.json'), JSON.stringify(summarize(data(rec, 1))));
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'd.json'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).requests.total, 3);
    assert.equal(JSON.parse(r.stdout).merged, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('merge adds up failed connects and warm-up connections, and a part cut short makes the sum partial', () => {
  const part = (refused: number, fromWarmup: number) => {
    const rec = new Recorder();
    for (let i = 0; i < 10; i++) rec.response(200, 1);
    for (let i = 0; i < refused; i++) rec.connectFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080');
    rec.connectionsFromWarmup = fromWarmup;
    rec.tick(1);
    return summarize(runData(rec, { warmupS: 2 }));
  };
  const a = part(3, 4);
  const b = part(5, 2);
  const m = mergeResults([a, b]);
  assert.equal(m.connectErrors, 8);
  assert.equal(m.errors.ECONNREFUSED, 8);
  assert.equal(m.requests.total, 20, 'failed connects are not requests');
  assert.equal(m.connectionsFromWarmup, 6);
  assert.equal(m.warmupS, 2);
  assert.equal(m.interrupted, undefined);
  assert.equal(m.gaveUp, undefined);
  const cut = mergeResults([a, { ...b, interrupted: true }]);
  assert.equal(cut.interrupted, true);
  assert.equal(cut.gaveUp, undefined);
  assert.equal(mergeResults([{ ...a, gaveUp: true }, b]).gaveUp, true);
  // Machines that warmed up differently: no single warm-up to state.
  assert.equal(mergeResults([a, { ...b, warmupS: 5 }]).warmupS, undefined);
  // Files from before connectErrors existed merge as before.
  const old = { ...a };
  delete old.connectErrors;
  assert.equal(mergeResults([old, { ...old, target: 'http://127.0.0.2:8080/' }]).connectErrors, undefined);
});

test('bench merge refuses different targets and -R mixed with a closed loop; a kernel section from some files only is said to be partial', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-merge-'));
  try {
    const rec = new Recorder();
    rec.response(200, 1);
    const a = summarize(data(rec, 1));
    rec.response(200, 2);
    const b = summarize(data(rec, 1));
    const kernel = {
      timeWaitPeak: 3,
      timeWaitPeakClientSide: 3,
      timeWaitPeakServerSide: 0,
      ephemeralPortsPeak: 3,
      ephemeralPortsUsable: 28_232,
      samples: 2,
      counters: { 'Tcp.ActiveOpens': 5 },
      targetIsLocal: false,
    };
    const files: Record<string, unknown> = {
      'a.json': { ...a, target: 'http://10.0.0.1:80/' },
      'other.json': { ...b, target: 'http://10.0.0.2:80/' },
      'rate.json': { ...b, target: 'http://10.0.0.1:80/', rate: 100 },
      'k.json': { ...b, target: 'http://10.0.0.1:80/', kernel },
    };
    for (const [name, r] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(r));
    let r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'other.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot merge runs against different targets/);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'rate.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /-R \(open model\) and without it/);
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'k.json'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).kernel.fromParts, { with: 1, of: 2 });
    r = await runCli(['bench', 'merge', join(dir, 'a.json'), join(dir, 'k.json')]);
    assert.match(r.stdout, /from 1 of 2 merged results only/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
