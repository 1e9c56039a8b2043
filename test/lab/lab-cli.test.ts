// The lab's command line: the catalogue, bad input as one clean line, and what runs without root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import type { LabReport } from '../../src/lab/runner.ts';
import { renderLab } from '../../src/render/lab.ts';

const root = process.getuid?.() === 0;
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

test('lab list names the nine experiments and, for each, what needs root', async () => {
  const r = await runCli(['lab', 'list']);
  assert.equal(r.code, 0, r.stderr);
  for (let i = 1; i <= 9; i++) assert.match(r.stdout, new RegExp(`^E${i}\\s`, 'm'));
  assert.match(r.stdout, /^E1\s.*partly: root for the 1,000-port part$/m);
  assert.match(r.stdout, /^E4\s.*partly: root for the vanished peer$/m);
  assert.match(r.stdout, /^E7\s.*in full, on loopback$/m);
  assert.doesNotMatch(r.stdout, /anyone/);
  const j = await runCli(['lab', 'list', '--json']);
  const list = JSON.parse(j.stdout).experiments as { id: string; rootFor: string | null }[];
  assert.deepEqual(
    list.map((e) => e.id),
    ['E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8', 'E9'],
  );
  // What an unprivileged run skips (the test below) is what the list names.
  assert.deepEqual(
    list.filter((e) => e.rootFor).map((e) => e.id),
    ['E1', 'E2', 'E3', 'E4'],
  );
});

test('a --report path that cannot be written is a usage error in one line, before anything runs', async () => {
  // All nine would run for minutes: the timeout would kill a run that checked the path only at its end.
  for (const [path, why] of [
    ['/nonexistent-tcplens-dir/lab.html', /no directory \/nonexistent-tcplens-dir/],
    ['/tmp', /it is a directory/],
  ] as const) {
    const r = await runCli(['lab', 'run', '--report', path], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, `${path}: ${r.stderr}`);
    assert.ok(isOneCleanLine(r.stderr), r.stderr);
    assert.match(r.stderr, new RegExp(`--report: cannot write ${path}`));
    assert.match(r.stderr, why);
    assert.equal(r.stdout, '', 'nothing ran');
  }
});

test('an unknown experiment is a usage error in one line, before anything starts', async () => {
  const r = await runCli(['lab', 'run', 'E1', 'E12']);
  assert.equal(r.code, 2);
  assert.ok(isOneCleanLine(r.stderr), r.stderr);
  assert.match(r.stderr, /no experiment 'E12'/);
  assert.equal(r.stdout, '');
});

test('without root the lab runs on loopback what it can and lists what it skipped and why', {
  skip: !root && 'needs root to become nobody',
}, async () => {
  const r = await runCli(['lab', 'run', 'E1', 'E2', 'E3', 'E4', '--quick', '--json'], {
    prefix: AS_NOBODY,
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.root, false);
  const byId = (id: string) => doc.experiments.find((e: { id: string }) => e.id === id);
  for (const id of ['E1', 'E2', 'E3', 'E4']) {
    const e = byId(id);
    assert.equal(e.error, undefined, `${id}: ${e.error}`);
    assert.ok(e.rows.length > 0, `${id} ran something on loopback`);
    assert.ok(e.skipped.length > 0, `${id} lists what it skipped`);
    for (const why of e.skipped) assert.match(why, /root|namespace/, `${id} says why: ${why}`);
  }
  // E1 on loopback still compares the two modes; its 1,000-port part is what was skipped.
  const e1 = byId('E1');
  assert.deepEqual(
    e1.rows.map((x: { mode: string }) => x.mode),
    ['keepalive', 'close'],
  );
  assert.ok(e1.rows[1].timeWaitPeak > e1.rows[0].timeWaitPeak);
  assert.match(e1.skipped[0], /ip_local_port_range/);
  assert.equal(byId('E4').rows[0].detected, 'ECONNRESET');
  // The table says it too (the JSON document carries all the table renders).
  const text = renderLab(doc as LabReport, false);
  assert.match(text, /not root/);
  assert.match(
    text,
    /skipped: the silently vanishing peer: taking its link down needs network namespaces of its own \(root\)/,
  );
});
