import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBpftraceLine } from '../../src/trace/parse.ts';
import { summarizeTrace, TraceSummaryBuilder } from '../../src/trace/summary.ts';
import type { TraceEvent } from '../../src/trace/event.ts';
import { traceEvent } from './event-fixture.ts';
import { renderTraceSummary, traceEventJson, traceEventLine, traceEventText } from '../../src/render/trace.ts';

const lines = readFileSync(new URL('./fixtures/bpftrace-output.ndjson', import.meta.url), 'utf8').split('\n');
const captured = lines
  .map((l) => parseBpftraceLine(l, { monoToEpochMs: 0 }))
  .flatMap((m) => (m?.kind === 'event' ? [m.event] : []))
  .slice(0, -1); // the last one is hand-written, not part of the captured run
const meta = { backend: 'bpftrace' as const, durationS: 1, lostEvents: 0, missedEvents: 0 };

const ev = (p: Partial<TraceEvent>): TraceEvent => traceEvent({ saddr: '10.0.0.1', daddr: '10.0.0.2', ...p });

test('counts each transition once, derived TIME_WAIT apart', () => {
  const s = summarizeTrace(captured, meta);
  const t = (from: string | null, to: string, derived = false) =>
    s.transitions.find((x) => x.from === from && x.to === to && x.derived === derived)?.count ?? 0;
  assert.equal(t('CLOSE', 'SYN_SENT'), 3);
  assert.equal(t('SYN_SENT', 'ESTABLISHED'), 2);
  assert.equal(t('SYN_SENT', 'CLOSE'), 1);
  assert.equal(t('LISTEN', 'SYN_RECV'), 2);
  assert.equal(t('FIN_WAIT2', 'TIME_WAIT', true), 1);
  assert.equal(t('ESTABLISHED', 'CLOSE'), 2);
  assert.equal(t('LISTEN', 'CLOSE'), 1);
  assert.equal(
    s.transitions.reduce((n, x) => n + x.count, 0),
    s.events.state,
  );
  assert.deepEqual(s.events, {
    state: 19,
    'reset-sent': 2,
    'reset-received': 2,
    retransmit: 0,
    'synack-retransmit': 0,
    drop: 0,
    life: 0,
  });
});

test('measures lifetimes of connections seen from SYN_SENT or SYN_RECV to CLOSE or TIME_WAIT', () => {
  const s = summarizeTrace(captured, meta);
  // Two connections seen from both ends, and the refused attempt; the listener is not a connection.
  assert.equal(s.lifetimes?.count, 5);
  // The refused connect lived 0.105 ms; the longest, the first server side, from 10056543031949 to 10056583527714 ns.
  assert.ok(Math.abs(s.lifetimes!.maxMs - 40.496) < 0.05, String(s.lifetimes!.maxMs));
  assert.ok(s.lifetimes!.p50Ms <= s.lifetimes!.p90Ms && s.lifetimes!.p99Ms <= s.lifetimes!.maxMs);
});

test('counts resets by direction and by the server port of the connection', () => {
  const s = summarizeTrace(captured, meta);
  const r = Object.fromEntries(s.resets.map((x) => [`${x.direction} ${x.port}`, x.count]));
  assert.deepEqual(r, { 'received 58959': 1, 'sent 58959': 1, 'sent 34153': 1, 'received 34153': 1 });
});

test('an abort by a server whose listener started before the trace counts under the server port, also when the client port is lower', () => {
  // Seen only as resets (no state events asked): the client's ephemeral port 33198 is below 35503.
  const abort = ev({
    type: 'reset-sent',
    sk: 'a',
    oldState: 'ESTABLISHED',
    sport: 35503,
    dport: 33198,
    reason: 'TCP_ABORT_ON_CLOSE',
  });
  const without = new TraceSummaryBuilder();
  without.add(abort);
  assert.equal(without.result(meta).resets[0]?.port, 33198, 'the guess a summary makes without the listener');
  const b = new TraceSummaryBuilder();
  b.addListeningPorts([35503]);
  b.add(abort);
  b.add(ev({ type: 'reset-received', sk: 'c', oldState: 'ESTABLISHED', sport: 33198, dport: 35503 }));
  assert.deepEqual(
    b.result(meta).resets.map((r) => `${r.direction} ${r.port}`),
    ['sent 35503', 'received 35503'],
  );
});

test('counts retransmits and SYN-ACK retransmits by peer', () => {
  const s = summarizeTrace(
    [
      ev({ type: 'retransmit', daddr: '10.0.0.9', dport: 443 }),
      ev({ type: 'retransmit', daddr: '10.0.0.9', dport: 443 }),
      ev({ type: 'synack-retransmit', daddr: '10.0.0.9', dport: 443 }),
      ev({ type: 'retransmit', family: 'ipv6', daddr: '2001:db8::1', dport: 80 }),
    ],
    meta,
  );
  assert.deepEqual(s.retransmits, [
    { peer: '10.0.0.9:443', retransmits: 2, synackRetransmits: 1 },
    { peer: '[2001:db8::1]:80', retransmits: 1, synackRetransmits: 0 },
  ]);
});

test('sampled events: a first sighting opens a connection, its disappearance or TIME_WAIT ends it', () => {
  const s = summarizeTrace(
    [
      ev({ sampled: true, sk: 'a', newState: 'ESTABLISHED', timeMs: 1000 }),
      ev({ sampled: true, sk: 'a', oldState: 'ESTABLISHED', newState: 'TIME_WAIT', timeMs: 1300 }),
      ev({ sampled: true, sk: 'a', oldState: 'TIME_WAIT', newState: 'CLOSE', timeMs: 61300 }),
      ev({ sampled: true, sk: 'l', newState: 'LISTEN', timeMs: 1000 }),
    ],
    { ...meta, backend: 'poll', intervalMs: 100 },
  );
  assert.equal(s.lifetimes?.count, 1);
  assert.equal(s.lifetimes?.maxMs, 300);
  assert.equal(s.transitions.find((t) => t.from === null && t.to === 'ESTABLISHED')?.count, 1);
});

test('renders the NDJSON fields of the issue, the live line and the matrix', () => {
  const derived = captured.find((e) => e.derived)!;
  assert.deepEqual(Object.keys(traceEventJson(derived)), [
    'time',
    'type',
    'pid',
    'comm',
    'family',
    'saddr',
    'sport',
    'daddr',
    'dport',
    'oldState',
    'newState',
    'ms',
    'sk',
    'derived',
  ]);
  const line = traceEventText(derived, false);
  assert.match(line, /11961\/python3\s+\[::1\]:47700\s+→ \[::1\]:58959\s+FIN_WAIT2 → TIME_WAIT\*\s+0\.035$/m);
  const text = renderTraceSummary(summarizeTrace(captured, meta), false);
  assert.match(text, /TIME_WAIT\*/);
  assert.match(text, /^CLOSE\s+3\s*$/m, 'the CLOSE row has one count, 3, under SYN_SENT');
  assert.match(text, /5 connections/);
});

test('writes each NDJSON line as JSON.stringify would write its object', () => {
  const withReason = lines
    .map((l) =>
      parseBpftraceLine(l, {
        monoToEpochMs: 1_700_000_000_000,
        resetReasons: new Map([
          [1, 'NO_SOCKET'],
          [14, 'TCP_STATE'],
        ]),
      }),
    )
    .flatMap((m) => (m?.kind === 'event' ? [m.event] : []));
  const sampled = ev({ sampled: true, newState: 'ESTABLISHED', timeMs: 1_700_000_000_007.9, comm: 'a\u0001"b' });
  for (const e of [...withReason, sampled]) {
    const line = traceEventLine(e);
    assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(JSON.parse(line), traceEventJson(e));
  }
});
