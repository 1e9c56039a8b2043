// The thread's wake schedule for timed queues: many queues waiting at once each release their items
// in order and never before their time, nothing stays scheduled, a disposed queue leaves the
// schedule; and sub-millisecond waits are slept out, not spun: the CPU spent while items wait is
// compared with what turning the event loop for as long costs, measured in the same run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { TimedQueue } from '../../src/proxy/toxics/timed-queue.ts';
import { waiting } from '../../src/proxy/toxics/wake-schedule.ts';
import type { Sink } from '../../src/proxy/toxics/toxic.ts';

interface Arrival {
  at: number;
  due: number;
  seq: number;
}

/** A queue whose chunks carry their sequence number and due time; arrivals recorded as they leave. */
function recordingQueue(arrivals: Arrival[], onEnd: () => void): { queue: TimedQueue; add: (due: number) => void } {
  const dues: number[] = [];
  const sink: Sink = {
    push: (chunk) => {
      const seq = chunk.readUInt32LE(0);
      arrivals.push({ at: performance.now(), due: dues[seq]!, seq });
    },
    end: onEnd,
    close: onEnd,
  };
  const queue = new TimedQueue(() => sink);
  const add = (due: number) => {
    const chunk = Buffer.alloc(4);
    chunk.writeUInt32LE(dues.length);
    dues.push(due);
    queue.add(due, chunk);
  };
  return { queue, add };
}

test('40 queues waiting at once: each in order, none before its time; the schedule empties', async () => {
  const queues = 40;
  const perQueue = 50;
  const arrivals: Arrival[][] = [];
  const ends: Promise<void>[] = [];
  // Made before any is due: the first ones are due once all are queued.
  const now = performance.now() + 30;
  for (let q = 0; q < queues; q++) {
    const got: Arrival[] = [];
    arrivals.push(got);
    let ended!: () => void;
    ends.push(new Promise<void>((r) => (ended = r)));
    const { queue, add } = recordingQueue(got, ended);
    // Due times over 30 ms, fractional, each queue's interleaved with the others'.
    let due = now + Math.random() * 2;
    for (let i = 0; i < perQueue; i++) {
      add(due);
      due += Math.random() * 1.2;
    }
    queue.end(due);
  }
  await Promise.all(ends);
  const all = arrivals.flat();
  assert.equal(all.length, queues * perQueue);
  for (const got of arrivals)
    assert.deepEqual(
      got.map((a) => a.seq),
      [...Array(perQueue).keys()],
      'each queue in order',
    );
  const early = all.filter((a) => a.at < a.due);
  assert.equal(
    early.length,
    0,
    `none before its time: ${early.length} were, by up to ${Math.max(0, ...early.map((a) => a.due - a.at)).toFixed(4)} ms`,
  );
  assert.equal(waiting(), 0, 'nothing left in the schedule');
});

/** Median lateness of `items` waits of `gapMs` each, one after the other, waited by `wait`. */
async function lateness(items: number, gapMs: number, wait: (due: number) => Promise<number>): Promise<number> {
  const late: number[] = [];
  for (let i = 0; i < items; i++) {
    const due = performance.now() + gapMs;
    late.push((await wait(due)) - due);
  }
  return late.sort((a, b) => a - b)[items >> 1]!;
}

test('waits of a fractional millisecond end about on time, where Node timers end up to a millisecond late', async () => {
  // Through a queue: the time its item leaves.
  const viaQueue = (due: number) =>
    new Promise<number>((resolve) => {
      const queue = new TimedQueue(() => ({ push: () => resolve(performance.now()), end() {}, close() {} }));
      queue.add(due, Buffer.alloc(1));
    });
  // Through a timer of whole milliseconds, rounded up so as not to fire before the time (as the
  // queue never releases before it), then the loop turned until the time.
  const viaTimer = (due: number) =>
    new Promise<number>((resolve) => {
      const spin = () => (performance.now() >= due ? resolve(performance.now()) : setImmediate(spin));
      setTimeout(spin, Math.ceil(due - performance.now()));
    });
  const queue: number[] = [];
  const timer: number[] = [];
  // Waits of 1.37 ms: each has a fraction of a millisecond that timers cannot count.
  for (let round = 0; round < 3; round++) {
    queue.push(await lateness(60, 1.37, viaQueue));
    timer.push(await lateness(60, 1.37, viaTimer));
  }
  const q = queue.sort((a, b) => a - b)[1]!;
  const t = timer.sort((a, b) => a - b)[1]!;
  const why = `median lateness through the queue ${q.toFixed(3)} ms, through timers ${t.toFixed(3)} ms`;
  assert.ok(q >= 0, why);
  assert.ok(q < t / 2, why);
});

test('a disposed queue leaves the schedule at once, and no timer of its keeps the process alive', () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const { queue, add } = recordingQueue([], () => {});
  const before = waiting();
  const timersBefore = timers();
  add(performance.now() + 60_000);
  assert.equal(waiting(), before + 1);
  assert.equal(timers(), timersBefore + 1, 'a timer waits for it');
  queue.dispose();
  assert.equal(waiting(), before);
  assert.equal(timers(), timersBefore, 'its timer is gone');
});

test('sub-millisecond waits are slept out: the CPU spent is a fraction of the time waited', async () => {
  // Items 0.7 ms apart: every wait is under a millisecond, which turning the loop would spend a core
  // on for all of it (on a busy machine, on what the scheduler gives it: an idle one spends less).
  const items = 400;
  const arrivals: Arrival[] = [];
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const { queue, add } = recordingQueue(arrivals, ended);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < items; i++) add(t0 + 0.7 * (i + 1));
  queue.end(t0 + 0.7 * items);
  await done;
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const cpuMs = (c.user + c.system) / 1000;
  assert.equal(arrivals.length, items);
  assert.ok(cpuMs < wallMs / 2, `waiting ${wallMs.toFixed(0)} ms took ${cpuMs.toFixed(0)} ms of CPU`);
});
