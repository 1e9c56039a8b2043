import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesFilter, type TraceEvent } from '../../src/trace/event.ts';
import { traceEvent } from './event-fixture.ts';

const ev = (p: Partial<TraceEvent>): TraceEvent => traceEvent({ pid: 7, comm: 'x', ...p });

test('--state keeps state changes from or to the state, and resets and retransmits of a socket in it', () => {
  const tw = { states: ['TIME_WAIT' as const] };
  assert.ok(matchesFilter(ev({ oldState: 'FIN_WAIT2', newState: 'TIME_WAIT', derived: true }), tw));
  assert.ok(!matchesFilter(ev({ oldState: 'SYN_SENT', newState: 'ESTABLISHED' }), tw));
  for (const type of ['reset-sent', 'reset-received', 'retransmit'] as const) {
    assert.ok(!matchesFilter(ev({ type, oldState: 'ESTABLISHED' }), tw), `${type} in ESTABLISHED`);
    assert.ok(
      matchesFilter(ev({ type, oldState: 'ESTABLISHED' }), { states: ['ESTABLISHED'] }),
      `${type} in ESTABLISHED`,
    );
    assert.ok(matchesFilter(ev({ type, oldState: null }), {}), 'no state filter: everything');
  }
  assert.ok(
    matchesFilter(ev({ type: 'reset-sent', oldState: 'TIME_WAIT' }), tw),
    'a timewait socket answering with a reset',
  );
  assert.ok(!matchesFilter(ev({ type: 'reset-sent', oldState: null }), tw), 'a reset from no socket is in no state');
  assert.ok(matchesFilter(ev({ type: 'synack-retransmit', oldState: 'SYN_RECV' }), { states: ['SYN_RECV'] }));
});
