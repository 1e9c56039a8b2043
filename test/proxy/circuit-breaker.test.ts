// examples/circuit-breaker: with HTTP-mode latency injected by the proxy, the breaker opens and the
// caller's p99 stays below the injected delay; without it, the delay shows in the caller's p99.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEFAULTS, run, type RunSummary } from '../../examples/circuit-breaker/run.ts';

test('the circuit breaker opens under injected latency and keeps the caller p99 below it', async () => {
  const common = {
    ...DEFAULTS,
    toxicity: 0.3,
    latencyMinMs: 300,
    latencyMaxMs: 600,
    timeoutMs: 100,
    errorThresholdPercentage: 10,
  };
  // Caller, proxy and inventory all run in this process: on a busy machine every request costs
  // more, delay injected or not. Each round measures that cost alongside, as the same load with
  // nothing injected (the control), and how late the event loop ran during the guarded run (the
  // breaker's timeout is a timer of this process). A load spike can spoil one round, not three.
  const rounds: { guarded: RunSummary; control: RunSummary; loopLateMs: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const guarded = await run({ ...common, breaker: true, requests: 300, concurrency: 8 });
    loop.disable();
    const control = await run({ ...common, toxicity: 0, breaker: true, requests: 300, concurrency: 8 });
    rounds.push({ guarded, control, loopLateMs: loop.max / 1e6 });
  }
  for (const { guarded, control } of rounds) {
    assert.equal(guarded.ok, 300);
    assert.ok(guarded.injected.requestsAffected! > 0);
    assert.ok(guarded.breakerOpens >= 1, `breaker opened ${guarded.breakerOpens} times`);
    assert.ok(guarded.fallbacks >= guarded.timeouts && guarded.timeouts > 0, JSON.stringify(guarded));
    assert.equal(control.ok, 300);
    assert.equal(control.injected.requestsAffected, 0);
  }
  // A caller that waited for the injected delay would take at least that delay on top of a request's
  // own cost; with the breaker, the tail is the timeout plus that cost, well below it.
  const beyond = rounds.map((r) => r.guarded.latencyMs.p99 - r.control.latencyMs.p99 - r.loopLateMs);
  const seen = rounds.map(
    (r) =>
      `p99 ${r.guarded.latencyMs.p99} ms, without injection ${r.control.latencyMs.p99} ms, event loop up to ${r.loopLateMs.toFixed(0)} ms late`,
  );
  assert.ok(Math.min(...beyond) < common.latencyMinMs, `with the breaker: ${seen.join('; ')}`);

  const bare = await run({ ...common, breaker: false, requests: 60, concurrency: 10 });
  assert.equal(bare.fallbacks, 0);
  assert.ok(bare.injected.requestsAffected! >= 3, JSON.stringify(bare.injected));
  assert.ok(bare.latencyMs.p99 >= 300, `p99 without the breaker ${bare.latencyMs.p99} ms`);
});
