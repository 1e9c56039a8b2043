import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';

test('E5 --quick: the slow crowd is cut at headersTimeout with 408s, and only the long-idle client loses requests to the idle race', async () => {
  const report = await runLab({ ids: ['E5'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assert.equal(e.id, 'E5');
  const slow = e.rows.filter((r) => r.part === 'slowloris');
  const race = e.rows.filter((r) => r.part === 'idle race');
  assert.equal(slow.length, 3);
  assert.equal(race.length, 3);

  const [alone, beside, crowd] = slow;
  for (const r of [alone!, beside!]) {
    assert.ok((r.requests as number) > 50, `normal requests were sent: ${r.requests}`);
    assert.equal(r.errors, 0, 'normal requests do not fail beside the crowd');
    assert.ok((r.p50Ms as number) > 0 && (r.p99Ms as number) >= (r.p50Ms as number));
  }
  // Node's own server is the oracle: it answers 408 when headersTimeout strikes, and not before.
  assert.ok((crowd!.connections as number) > 0);
  assert.equal(crowd!.closedByServer, crowd!.connections, 'every slow connection was closed by the server');
  assert.equal(crowd!.got408, crowd!.connections, 'each with a 408');
  assert.ok((crowd!.closedAfterMsP50 as number) >= 1000, `not before headersTimeout (p50 ${crowd!.closedAfterMsP50} ms)`);
  assert.ok((crowd!.closedAfterMsMax as number) < 1000 + 250 + 750, `soon after it (max ${crowd!.closedAfterMsMax} ms)`);

  const [blind, shortIdle, pool] = race;
  assert.ok((blind!.requests as number) > 0 && blind!.requests === shortIdle!.requests && blind!.requests === pool!.requests, 'same schedule for all three');
  assert.ok((blind!.errors as number) > 0, `the race is reproduced: ${blind!.errors} errors`);
  assert.ok((blind!.reused as number) >= (blind!.errors as number), 'only on reused connections');
  assert.equal(shortIdle!.errors, 0);
  assert.equal(pool!.errors, 0);

  assert.match(e.conclusion, new RegExp(`failed ${blind!.errors} of ${blind!.requests}`));
  assert.ok(e.charts.length >= 3 && e.charts.every((c) => c.series.some((s) => s.points.length > 0)));
});
