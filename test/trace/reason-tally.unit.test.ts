import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReasonCounts } from '../../src/trace/reason-tally.ts';
import type { TraceEvent } from '../../src/trace/event.ts';

const event = (type: TraceEvent['type'], reason?: string): TraceEvent => ({
  timeMs: 0,
  type,
  pid: null,
  comm: null,
  family: 'ipv4',
  saddr: '127.0.0.1',
  sport: 1,
  daddr: '127.0.0.1',
  dport: 2,
  oldState: null,
  newState: null,
  ms: null,
  sk: '0',
  ...(reason === undefined ? {} : { reason }),
});

test('drops and resets sent are counted by reason, received resets without one, other events not at all', () => {
  const c = createReasonCounts();
  for (const e of [
    event('drop', 'TCP_LISTEN_OVERFLOW'),
    event('drop', 'TCP_LISTEN_OVERFLOW'),
    event('drop', 'NO_SOCKET'),
    event('reset-sent', 'NO_SOCKET'),
    event('reset-received'),
    event('state'),
    event('retransmit'),
  ])
    c.add(e);
  assert.deepEqual(c.totals(), {
    drops: { TCP_LISTEN_OVERFLOW: 2, NO_SOCKET: 1 },
    resetsSent: { NO_SOCKET: 1 },
    resetsReceived: 1,
    lostEvents: 0,
    running: true,
  });
});

test('past the cap, new reasons of a kind are summed as "other"; reasons already labelled keep counting; each kind has its own cap', () => {
  const c = createReasonCounts(2);
  for (const r of ['A', 'B', 'C', 'D', 'A', 'C']) c.add(event('drop', r));
  for (const r of ['X', 'Y', 'Z']) c.add(event('reset-sent', r));
  const t = c.totals();
  assert.deepEqual(t.drops, { A: 2, B: 1, other: 3 });
  assert.deepEqual(t.resetsSent, { X: 1, Y: 1, other: 1 });
});

test('a reason that is no kernel name (a number, a missing reason) goes to "other" or "unknown", never to a label of its own', () => {
  const c = createReasonCounts();
  c.add(event('drop', 'weird name'));
  c.add(event('reset-sent'));
  c.add(event('reset-sent', '7'));
  assert.deepEqual(c.totals().drops, { other: 1 });
  assert.deepEqual(c.totals().resetsSent, { other: 1, unknown: 1 });
});
