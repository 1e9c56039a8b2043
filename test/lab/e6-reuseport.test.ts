import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';
import { assertFitsTerminal } from './fits.ts';

test('E6 --quick: SO_REUSEPORT opens one listening socket per worker and the kernel spreads connections over all of them', async () => {
  const report = await runLab({ ids: ['E6'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assertFitsTerminal(e);
  // --quick measures no keep-alive throughput, and its description says so.
  assert.match(e.shows, /keep-alive throughput only in a full run, not in --quick/);
  assert.equal(e.rows.length, 4);
  const [single, cluster, reuse, again] = e.rows;
  const workers = reuse!.listeningSockets as number;

  // ss is the oracle for the sockets: one for a plain server and for cluster (the primary owns it), N for SO_REUSEPORT.
  assert.equal(single!.listeningSockets, 1);
  assert.equal(cluster!.listeningSockets, 1);
  assert.ok(workers >= 2, `SO_REUSEPORT listeners: ${workers}`);

  const split = (cell: unknown) => String(cell).split(' / ').map(Number);
  assert.deepEqual(split(single!.shortPerWorker), [300]);
  for (const r of [cluster!, reuse!]) {
    const short = split(r.shortPerWorker);
    assert.equal(short.length, workers, `${r.mode}: every worker served short connections (${r.shortPerWorker})`);
    assert.equal(
      short.reduce((a, b) => a + b, 0),
      300,
    );
    assert.equal(
      split(r.heldPerWorker).reduce((a, b) => a + b, 0),
      32,
    );
    assert.equal(r.errors, 0);
  }
  for (const r of [single!, cluster!, reuse!, again!]) assert.ok((r.newConnPerSec as number) > 0);
  assert.match(e.conclusion, /ss counted 1 listening socket on the cluster’s port and \d+ on the SO_REUSEPORT port/);
});
