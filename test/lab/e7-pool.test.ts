import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';
import { assertFitsTerminal } from './fits.ts';

test('E7 --quick: a too-small pool queues requests while the event loop idles; sized by Little’s law the queue wait shrinks', async () => {
  const report = await runLab({ ids: ['E7'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assertFitsTerminal(e);
  assert.equal(e.rows.length, 3);
  const [small, little, double] = e.rows;
  const n = (v: unknown) => v as number;
  assert.equal(small!.connections, 2);
  assert.ok(n(little!.connections) > 2 && n(double!.connections) > n(little!.connections));
  for (const r of e.rows) {
    assert.equal(r.errors, 0);
    assert.equal(r.requests, small!.requests, 'the same arrivals for every size');
  }
  assert.ok(n(small!.queueWaitMsP50) > 50, `the small pool makes requests wait (p50 ${small!.queueWaitMsP50} ms)`);
  assert.ok(
    n(little!.queueWaitMsP99) < n(small!.queueWaitMsP99),
    `Little’s law shrinks the wait (${small!.queueWaitMsP99} → ${little!.queueWaitMsP99} ms)`,
  );
  assert.ok(n(double!.queueWaitMsP50) < n(small!.queueWaitMsP50) / 10);
  assert.ok(n(small!.peakQueued) > n(double!.peakQueued));
  assert.ok(n(small!.loopDelayMsP99) < n(small!.queueWaitMsP50), 'the wait is not the event loop’s');
  assert.ok(n(small!.latencyMsP99) > n(double!.latencyMsP99));
});
