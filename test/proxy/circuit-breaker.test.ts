// examples/circuit-breaker: with HTTP-mode latency injected by the proxy, the breaker opens and the
// caller's p99 stays below the injected delay; without it, the delay shows in the caller's p99.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEFAULTS, run } from '../../examples/circuit-breaker/run.ts';

test('the circuit breaker opens under injected latency and keeps the caller p99 below it', async () => {
  const common = { ...DEFAULTS, toxicity: 0.3, latencyMinMs: 300, latencyMaxMs: 600, timeoutMs: 100, errorThresholdPercentage: 10 };
  // The breaker's timeout is a timer of this process: on a busy machine it fires as late as the
  // event loop runs late, measured here over the same run, and not later.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const guarded = await run({ ...common, breaker: true, requests: 300, concurrency: 8 });
  loop.disable();
  const loopLateMs = loop.max / 1e6;
  assert.equal(guarded.ok, 300);
  assert.ok(guarded.injected.requestsAffected! > 0);
  assert.ok(guarded.breakerOpens >= 1, `breaker opened ${guarded.breakerOpens} times`);
  assert.ok(guarded.fallbacks >= guarded.timeouts && guarded.timeouts > 0, JSON.stringify(guarded));
  assert.ok(guarded.latencyMs.p99 < 300 + loopLateMs, `p99 with the breaker ${guarded.latencyMs.p99} ms (event loop up to ${loopLateMs} ms late)`);

  const bare = await run({ ...common, breaker: false, requests: 60, concurrency: 10 });
  assert.equal(bare.fallbacks, 0);
  assert.ok(bare.injected.requestsAffected! >= 3, JSON.stringify(bare.injected));
  assert.ok(bare.latencyMs.p99 >= 300, `p99 without the breaker ${bare.latencyMs.p99} ms`);
});
