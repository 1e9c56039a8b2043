import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reasonFrameOf, reasonKeys } from '../../src/observe/dashboard-frame.ts';
import type { ReasonTotals } from '../../src/model/reason-totals.ts';

const totals = (drops: Record<string, number>, sent: Record<string, number>, received: number): ReasonTotals => ({
  drops,
  resetsSent: sent,
  resetsReceived: received,
  lostEvents: 0,
  running: true,
});

test("the page's keys name the kind, the direction and the kernel's reason; received resets are always there", () => {
  assert.deepEqual(reasonKeys(totals({ TCP_LISTEN_OVERFLOW: 3 }, { NO_SOCKET: 2 }, 0)), {
    'drop TCP_LISTEN_OVERFLOW': 3,
    'reset sent NO_SOCKET': 2,
    'reset received': 0,
  });
});

test('rates are per second since the previous frame, only those that moved, none on the first frame', () => {
  const first = reasonFrameOf(totals({ A: 4 }, {}, 1), 10_000, undefined);
  assert.equal(first.rates, null);
  const second = reasonFrameOf(totals({ A: 10, B: 1 }, { NO_SOCKET: 5 }, 1), 12_000, {
    totals: first.totals,
    atMs: 10_000,
  });
  assert.deepEqual(second.rates, { 'drop A': 3, 'drop B': 0.5, 'reset sent NO_SOCKET': 2.5 });
  assert.deepEqual(second.totals, { 'drop A': 10, 'drop B': 1, 'reset sent NO_SOCKET': 5, 'reset received': 1 });
});
