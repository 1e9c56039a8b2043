import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';
import { assertFitsTerminal } from './fits.ts';

test('E9 --quick: latency injected by tcplens proxy into ~5% of calls reaches the caller’s p99 unless the circuit breaker cuts it', async () => {
  const report = await runLab({ ids: ['E9'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assertFitsTerminal(e);
  assert.equal(e.rows.length, 2);
  const [on, off] = e.rows;
  const n = (v: unknown) => v as number;
  assert.equal(on!.caller, 'with the breaker');
  for (const r of [on!, off!]) {
    assert.equal(r.errors, 0);
    // The proxy's own count of the calls it delayed: about 5%, never all, never none.
    assert.ok(
      n(r.delayedByProxy) > 0 && n(r.delayedByProxy) < n(r.callsThroughProxy) / 4,
      `${r.caller}: ${r.delayedByProxy} of ${r.callsThroughProxy} delayed`,
    );
  }
  assert.equal(off!.callsThroughProxy, off!.requests, 'without a breaker every call goes through');
  assert.equal(off!.fallbacks, 0);
  assert.ok(n(off!.p99Ms) >= 200, `the injected delay reaches the tail: p99 ${off!.p99Ms} ms`);
  assert.ok(n(on!.timeouts) > 0 && n(on!.fallbacks) >= n(on!.timeouts));
  assert.ok(n(on!.p99Ms) < n(off!.p99Ms), `the breaker lowers p99: ${on!.p99Ms} < ${off!.p99Ms} ms`);
  assert.ok(n(on!.maxMs) < n(off!.maxMs));
});
