import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAG_WINDOW_MS, ReorderBuffer } from '../../src/trace/reorder.ts';
import type { TraceEvent } from '../../src/trace/event.ts';
import { traceEvent } from './event-fixture.ts';

// Arrival times are on the events' clock (as bpftrace.ts stamps them): arrival − kernel time is the delivery lag.
const ev = (timeMs: number, tag: string): TraceEvent => traceEvent({ timeMs, comm: tag, sport: 1, dport: 2, sk: tag });
const tags = (es: TraceEvent[]) => es.map((e) => e.comm);

test('puts an event read late from another CPU back before the newer one read first', () => {
  const b = new ReorderBuffer({ minHoldMs: 50 });
  // The server's close (CPU 1, t=1000) came out before the FIN that caused it (CPU 0, t=999.9).
  b.push(ev(1000, 'CLOSE_WAIT>LAST_ACK'), 1000);
  b.push(ev(999.9, 'ESTABLISHED>CLOSE_WAIT'), 1000.1);
  assert.ok(b.holdMs >= 50 && b.holdMs < 51, 'a lag of 0.2 ms adds nothing a person would notice');
  assert.deepEqual(b.release(1049), [], 'nothing leaves before its hold');
  assert.ok(b.nextDueMs()! > 1049 && b.nextDueMs()! < 1051);
  assert.deepEqual(tags(b.release(1051)), ['ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK']);
  assert.equal(b.size, 0);
  assert.equal(b.nextDueMs(), undefined);
  assert.equal(b.late, 0);
});

test('lets out only what no event still waiting can precede, and keeps arrival order for equal times', () => {
  const b = new ReorderBuffer({ minHoldMs: 50 });
  b.push(ev(5, 'a'), 5);
  b.push(ev(7, 'c'), 7);
  b.push(ev(30, 'e'), 30);
  b.push(ev(6, 'b'), 31); // older than c, arrived later but within the hold; a lag of 25 ms
  b.push(ev(7, 'd'), 40);
  assert.equal(b.holdMs, 50 + 33, 'the largest lag so far (d: 33 ms) on top of the minimum');
  assert.deepEqual(tags(b.release(87)), []);
  assert.deepEqual(tags(b.release(88)), ['a']);
  // At 7 + 83 = 90, c has waited the hold too: everything up to c's time (7) may leave, sorted.
  assert.deepEqual(tags(b.release(90)), ['b', 'c', 'd']);
  assert.deepEqual(tags(b.release(112)), []);
  assert.deepEqual(tags(b.release(113)), ['e']);
});

test('an event later than the hold is counted as late and still delivered; drain empties in order', () => {
  const b = new ReorderBuffer({ minHoldMs: 10, maxHoldMs: 10 });
  b.push(ev(100, 'x'), 100);
  assert.deepEqual(tags(b.release(110)), ['x']);
  b.push(ev(99, 'late'), 111);
  b.push(ev(120, 'z'), 121);
  b.push(ev(110, 'y'), 122);
  assert.equal(b.late, 1);
  assert.equal(b.holdMs, 10, 'capped');
  assert.deepEqual(tags(b.drain()), ['late', 'y', 'z']);
  assert.equal(b.size, 0);
});

test('keeps up with a long, mostly ordered stream without losing or duplicating an event', () => {
  const b = new ReorderBuffer({ minHoldMs: 20 });
  const out: TraceEvent[] = [];
  let t = 0;
  for (let i = 0; i < 20_000; i++) {
    t += 0.05;
    // Every 7th event was read 3 ms late from the other CPU's buffer.
    const kernelMs = i % 7 === 0 ? t - 3 : t;
    b.push(ev(kernelMs, String(i)), t);
    if (i % 100 === 0) out.push(...b.release(t));
  }
  out.push(...b.drain());
  assert.equal(out.length, 20_000);
  assert.equal(new Set(out.map((e) => e.comm)).size, 20_000);
  for (let i = 1; i < out.length; i++) assert.ok(out[i]!.timeMs >= out[i - 1]!.timeMs, `in order at ${i}`);
  assert.equal(b.late, 0);
});

/**
 * bpftrace under load: it keeps up (lag 1 ms) until T, then stalls for 1.9 s; at A = T + 1.9 s it
 * reads CPU 0's whole backlog (events of both CPUs' 1.9 s interleave in kernel time), and CPU 1's only
 * 100 ms later. Releases are asked for every 10 ms, as the timer in bpftrace.ts would.
 */
function backlog(b: ReorderBuffer) {
  const out: TraceEvent[] = [];
  const T = 10_000;
  const A = T + 1_900;
  const arrivals: Array<[number, TraceEvent]> = [];
  for (let t = 0; t < T; t += 1) arrivals.push([t + 1, ev(t, `keep-up ${t}`)]);
  for (let t = T; t < A; t += 2) {
    arrivals.push([A, ev(t, `cpu0 ${t}`)]);
    arrivals.push([A + 100, ev(t + 1, `cpu1 ${t + 1}`)]);
  }
  arrivals.sort((x, y) => x[0] - y[0]);
  let i = 0;
  for (let now = 0; now <= A + 2_500; now += 10) {
    while (i < arrivals.length && arrivals[i]![0] <= now) b.push(arrivals[i]![1], arrivals[i]![0]), i++;
    out.push(...b.release(now));
  }
  const releasedBeforeDrain = out.length;
  out.push(...b.drain());
  return { out, releasedBeforeDrain, total: arrivals.length };
}

test('waits out a backlog of 1.9 s read from one CPU before the other: sorted, nothing late', () => {
  const b = new ReorderBuffer();
  const { out, total, releasedBeforeDrain } = backlog(b);
  assert.equal(out.length, total);
  assert.equal(releasedBeforeDrain, total, 'all of it left during the trace, 2 s after it came');
  for (let i = 1; i < out.length; i++)
    assert.ok(out[i]!.timeMs >= out[i - 1]!.timeMs, `in order at ${i}: ${out[i - 1]!.comm} then ${out[i]!.comm}`);
  assert.equal(b.late, 0);
  assert.ok(b.longestHoldMs >= 1_900 && b.longestHoldMs <= 2_100, `held up to ${b.longestHoldMs} ms`);
});

test('a fixed 50 ms hold would not have: the backlog test can fail', () => {
  const b = new ReorderBuffer({ minHoldMs: 50, maxHoldMs: 50 });
  backlog(b);
  assert.ok(b.late > 0);
});

test('adds no wait while bpftrace keeps up, and forgets a backlog once the lag window has passed', () => {
  const b = new ReorderBuffer();
  for (let t = 0; t < 1_000; t++) b.push(ev(t, 'k'), t + 1);
  assert.equal(b.holdMs, 51);
  b.release(1_000);
  b.push(ev(1_000, 'backlog'), 3_000); // 2 s late
  assert.equal(b.holdMs, 2_050);
  b.push(ev(100_000, 'huge'), 120_000); // 20 s late: beyond the cap
  assert.equal(b.holdMs, 5_000);
  b.drain();
  // Quiet and on time again for a whole window: the minimum hold is back.
  for (let t = 120_000; t < 120_000 + LAG_WINDOW_MS + 1; t += 100) {
    b.push(ev(t, 'k'), t + 1);
    b.release(t + 1);
  }
  assert.equal(b.holdMs, 51);
});
