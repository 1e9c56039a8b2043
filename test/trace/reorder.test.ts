import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReorderBuffer } from '../../src/trace/reorder.ts';
import type { TraceEvent } from '../../src/trace/event.ts';

const ev = (timeMs: number, tag: string): TraceEvent => ({
  timeMs,
  type: 'state',
  pid: null,
  comm: tag,
  family: 'ipv4',
  saddr: '127.0.0.1',
  sport: 1,
  daddr: '127.0.0.1',
  dport: 2,
  oldState: null,
  newState: null,
  ms: null,
  sk: tag,
});
const tags = (es: TraceEvent[]) => es.map((e) => e.comm);

test('puts an event read late from another CPU back before the newer one read first', () => {
  const b = new ReorderBuffer(50);
  // The server's close (CPU 1, t=10) came out before the FIN that caused it (CPU 0, t=9).
  b.push(ev(10, 'CLOSE_WAIT>LAST_ACK'), 1000);
  b.push(ev(9, 'ESTABLISHED>CLOSE_WAIT'), 1000.2);
  assert.deepEqual(b.release(1049), [], 'nothing leaves before its hold');
  assert.equal(b.nextDueMs(), 1050);
  assert.deepEqual(tags(b.release(1050)), ['ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK']);
  assert.equal(b.size, 0);
  assert.equal(b.nextDueMs(), undefined);
  assert.equal(b.late, 0);
});

test('lets out only what no event still waiting can precede, and keeps arrival order for equal times', () => {
  const b = new ReorderBuffer(50);
  b.push(ev(5, 'a'), 0);
  b.push(ev(7, 'c'), 0);
  b.push(ev(30, 'e'), 20);
  b.push(ev(6, 'b'), 30); // older than c, arrived later but within the hold
  b.push(ev(7, 'd'), 40);
  // At 50, a and c have waited the hold: everything up to c's time (7) may leave, sorted.
  assert.deepEqual(tags(b.release(50)), ['a', 'b', 'c', 'd']);
  assert.deepEqual(tags(b.release(69)), []);
  assert.deepEqual(tags(b.release(70)), ['e']);
});

test('an event later than the hold is counted as late and still delivered; drain empties in order', () => {
  const b = new ReorderBuffer(10);
  b.push(ev(100, 'x'), 0);
  assert.deepEqual(tags(b.release(10)), ['x']);
  b.push(ev(99, 'late'), 11);
  b.push(ev(120, 'z'), 12);
  b.push(ev(110, 'y'), 13);
  assert.equal(b.late, 1);
  assert.deepEqual(tags(b.drain()), ['late', 'y', 'z']);
  assert.equal(b.size, 0);
});

test('keeps up with a long, mostly ordered stream without losing or duplicating an event', () => {
  const b = new ReorderBuffer(20);
  const out: TraceEvent[] = [];
  let t = 0;
  for (let i = 0; i < 20_000; i++) {
    t += 0.05;
    // Every 7th event was read up to 3 ms late from the other CPU's buffer.
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
