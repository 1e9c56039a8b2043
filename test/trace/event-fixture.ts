// A trace event for tests that build their own: a state change with no states, ports or owner set.

import type { TraceEvent } from '../../src/trace/event.ts';

export function traceEvent(p: Partial<TraceEvent> = {}): TraceEvent {
  return {
    timeMs: 0,
    type: 'state',
    pid: null,
    comm: null,
    family: 'ipv4',
    saddr: '127.0.0.1',
    sport: 40000,
    daddr: '127.0.0.1',
    dport: 80,
    oldState: null,
    newState: null,
    ms: null,
    sk: 'x',
    ...p,
  };
}
