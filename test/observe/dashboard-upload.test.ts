// The bench viewer's upload (POST /api/bench) under hostile files: what the dashboard once answered
// with a blocked event loop, gigabytes of memory or a 500 now gets a 4xx that names the field.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDashboard, type DashboardHandle } from '../../src/observe/dashboard.ts';
import type { BenchResult } from '../../src/model/bench-result.ts';
import { largestRealFile, postBench, realRun, withStallMs } from './dashboard-helpers.ts';
import { rawExchange } from '../helpers/raw-http.ts';

describe('POST /api/bench with hostile files', () => {
  let dashboard: DashboardHandle;
  let run: BenchResult;

  before(async () => {
    // One sample a minute: the sampler stays out of the way of what is measured here.
    [dashboard, run] = await Promise.all([startDashboard({ port: 0, intervalMs: 60_000 }), realRun()]);
  });
  after(() => dashboard?.close());

  test('a real file is decoded', async () => {
    const r = await postBench(dashboard.port, JSON.stringify(run));
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { runs: unknown[] }).runs.length, 1);
  });

  test('"timeline":[null] gets a 400 that names timeline[0], not a 500', async () => {
    const r = await postBench(dashboard.port, JSON.stringify({ ...run, timeline: [null] }));
    assert.equal(r.status, 400, r.body);
    assert.match((JSON.parse(r.body) as { error: string }).error, /timeline\[0\]: expected an object/);
  });

  test('a file announced as larger than 512 MiB gets a 413 at once, and the connection is closed rather than drained', async () => {
    const r = await rawExchange(
      dashboard.port,
      `POST /api/bench HTTP/1.1\r\nHost: 127.0.0.1:${dashboard.port}\r\nContent-Type: application/json\r\nContent-Length: ${(512 << 20) + 1}\r\n\r\n{`,
      10_000,
    );
    assert.equal(r.status, 413, r.raw.slice(0, 300));
    assert.match(r.raw, /"error":"the file is over 512 MiB"/);
    assert.ok(r.closed);
  });

  test('a 60 MB file whose timeline holds 21 M empty objects is refused with a 413 naming the timeline, without blocking', async () => {
    const { timeline: _, ...rest } = run;
    const head = Buffer.from(JSON.stringify(rest).slice(0, -1) + ',"timeline":[');
    const entries = Math.floor(((60 << 20) - head.length - 3) / 3);
    const body = Buffer.concat([head, Buffer.alloc(entries * 3, '{},'), Buffer.from('{}]}')]);
    const hostile = await withStallMs(() => postBench(dashboard.port, body));
    assert.equal(hostile.value.status, 413, hostile.value.body.slice(0, 300));
    assert.match((JSON.parse(hostile.value.body) as { error: string }).error, /^timeline: more than 100,000 entries/);
    // Against the same loop taking the largest real file (a third of the size, but all of it read).
    const real = await withStallMs(() => postBench(dashboard.port, largestRealFile(run)));
    assert.equal(real.value.status, 200);
    assert.ok(
      hostile.stallMs <= real.stallMs,
      `the event loop stalled ${hostile.stallMs.toFixed(0)} ms, ${real.stallMs.toFixed(0)} ms for the largest real file`,
    );
  });
});
