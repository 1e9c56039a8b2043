// A thread whose timed queues sleep out sub-millisecond waits asks the kernel for a timer slack of a
// microsecond, at its first sleep and not before: the kernel's own account (/proc) is the oracle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TimedQueue } from '../../src/proxy/toxics/timed-queue.ts';
import type { Sink } from '../../src/proxy/toxics/toxic.ts';

// This test file runs in a process of its own; its main thread's task is the process's.
const slackNs = () => Number(readFileSync('/proc/self/timerslack_ns', 'utf8'));

test('the first sub-millisecond sleep sets the thread timer slack to 1 µs; a wait of whole milliseconds does not', async () => {
  const before = slackNs();
  assert.ok(before > 1000, `this test needs the default slack to start with, not ${before} ns`);
  let released = 0;
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const sink: Sink = { push: () => void released++, end: done, close: done };
  const queue = new TimedQueue(() => sink);
  // Items due in whole milliseconds from a timer's point of view go first: no sleep yet.
  const start = performance.now();
  queue.add(start + 20, Buffer.from('a'));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(slackNs(), before, 'no sleep happened yet, the slack is left alone');
  // Then items a fraction of a millisecond apart: the schedule sleeps between them.
  let due = start + 25;
  for (let i = 0; i < 50; i++) queue.add((due += 0.4), Buffer.from('b'));
  queue.end(due);
  await ended;
  assert.equal(released, 51);
  assert.equal(slackNs(), 1000);
});
