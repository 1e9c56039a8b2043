// Sub-millisecond waits of the toxics, measured on the stages alone: a slicer's µs delays add up to
// their sum (not to a millisecond per piece), latency with jitter draws delays below a millisecond
// and keeps them, and nothing leaves before its time. Upper bounds are on what this process was not
// held up by a busy machine, measured in the same run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseToxic } from '../../src/proxy/toxic-set.ts';
import { findToxic } from '../../src/proxy/toxics/index.ts';
import type { Sink, Stage, TcpToxic } from '../../src/proxy/toxics/toxic.ts';
import { sleep, withStalls } from './helpers.ts';

interface Arrival {
  at: number;
  bytes: Buffer;
}

function stage(
  type: string,
  attributes: Record<string, number>,
): { stage: Stage; arrivals: Arrival[]; ended: Promise<number> } {
  const def = findToxic('tcp', type) as TcpToxic;
  const entry = parseToxic('tcp', { type, attributes });
  const arrivals: Arrival[] = [];
  let endedAt!: (at: number) => void;
  const ended = new Promise<number>((r) => (endedAt = r));
  const sink: Sink = {
    push: (bytes) => arrivals.push({ at: performance.now(), bytes }),
    end: () => endedAt(performance.now()),
    close: () => endedAt(performance.now()),
  };
  const s = def.createStage(entry.effective, { dropped: () => {}, reset: () => {} }, def.newState?.());
  s.next = sink;
  return { stage: s, arrivals, ended };
}

/** The time one turn of this event loop takes now (median of 50): what a check-phase wait adds. */
async function turnMs(): Promise<number> {
  const turns: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await new Promise((r) => setImmediate(r));
    turns.push(performance.now() - t);
  }
  return turns.sort((a, b) => a - b)[25]!;
}

test('slicer: 400 KB in ~1000-byte pieces 100 µs apart take the pieces × 100 µs, not a millisecond each; bytes intact', async () => {
  const payload = randomBytes(400_000);
  const delayUs = 100;
  // The same cut with no delay: what slicing and recording cost here, now.
  const quick = stage('slicer', { average_size: 1000, size_variation: 100, delay: 0 });
  const t0 = performance.now();
  quick.stage.push(payload);
  quick.stage.end();
  const baselineMs = (await quick.ended) - t0;
  const turn = await turnMs();

  const slow = stage('slicer', { average_size: 1000, size_variation: 100, delay: delayUs });
  let start = 0;
  const {
    value: span,
    stalledMs,
    worstMs,
  } = await withStalls(async () => {
    start = performance.now();
    slow.stage.push(payload);
    slow.stage.end();
    return (await slow.ended) - start;
  });
  const pieces = slow.arrivals.length;
  assert.ok(Buffer.concat(slow.arrivals.map((a) => a.bytes)).equals(payload), 'the same bytes, in order');
  assert.ok(
    pieces >= 256 && slow.arrivals.every((a) => a.bytes.length <= 1100),
    `${pieces} pieces of at most 1100 bytes`,
  );
  const idealMs = ((pieces - 1) * delayUs) / 1000;
  const why = `${pieces} pieces in ${span.toFixed(1)} ms; ideal ${idealMs.toFixed(1)}; no-delay baseline ${baselineMs.toFixed(1)}; a loop turn ${turn.toFixed(3)}; held up ${stalledMs.toFixed(0)} (worst ${worstMs.toFixed(0)})`;
  // Never early: piece k leaves k delays or more after the chunk came in.
  for (let k = 1; k < pieces; k++) {
    const early = start + (k * delayUs) / 1000 - slow.arrivals[k]!.at;
    assert.ok(early < 0.01, `piece ${k} left ${early.toFixed(3)} ms early (${why})`);
  }
  // On time on average: the last piece is late by a turn of the loop and what held this process up
  // (stalls are measured in 10 ms ticks: one tick of slack), where millisecond timers would take
  // `pieces` ms.
  assert.ok(span <= idealMs + baselineMs + 4 * turn + stalledMs + worstMs + 10, why);
  assert.ok(span < pieces * 0.5, `a millisecond timer per piece would take ${pieces} ms (${why})`);
});

test('latency with jitter: delays are drawn below a millisecond and kept, on average as drawn', async () => {
  const latencyMs = 0;
  const jitterMs = 1;
  const chunks = 200;
  // Delays uniform in [-1, 1) ms: half go at once (a negative delay is none), half within a
  // millisecond, 0.25 ms on average overall. Chunks 3 ms apart never wait for one another.
  const t = stage('latency', { latency: latencyMs, jitter: jitterMs });
  const sentAt: number[] = [];
  const turn = await turnMs();
  const { stalledMs } = await withStalls(async () => {
    for (let i = 0; i < chunks; i++) {
      sentAt.push(performance.now());
      t.stage.push(Buffer.from([i & 255, i >> 8]));
      await sleep(3);
    }
    t.stage.end();
    await t.ended;
  });
  assert.equal(t.arrivals.length, chunks);
  const delays = t.arrivals.map((a) => a.at - sentAt[a.bytes[0]! | (a.bytes[1]! << 8)]!);
  assert.deepEqual(
    t.arrivals.map((a) => a.bytes[0]! | (a.bytes[1]! << 8)),
    [...Array(chunks).keys()],
    'in order',
  );
  const inside = delays.filter((d) => d > 0.02 && d < 1).length;
  const mean = delays.reduce((a, b) => a + b, 0) / chunks;
  const why = `mean ${mean.toFixed(3)} ms, ${inside} of ${chunks} between 0.02 and 1 ms; a loop turn ${turn.toFixed(3)}; held up ${stalledMs.toFixed(0)}`;
  // Whole milliseconds would put none strictly inside (0, 1): about half are (binomial, ±5 σ).
  assert.ok(inside >= chunks * 0.5 - 5 * Math.sqrt(chunks * 0.25) - 0.04 * chunks, why);
  // Expected mean 0.25 ms (±5 σ of 200 draws: 0.09), plus at most a turn for each waiting one and
  // what this process was held up, spread over the chunks.
  assert.ok(mean >= 0.25 - 0.09, why);
  assert.ok(mean <= 0.25 + 0.09 + turn + stalledMs / chunks + 0.05, why);
});
