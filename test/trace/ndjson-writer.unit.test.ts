import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceEventJson, traceEventLine, lostLine } from '../../src/render/trace.ts';

// The oracle: the documented object of an event, as JSON.stringify writes it.
const stringified = (e: TraceEvent) => `${JSON.stringify(traceEventJson(e))}\n`;
import { TraceNdjsonWriter } from '../../src/render/trace-ndjson.ts';
import type { TraceEvent, TraceEventType } from '../../src/trace/event.ts';
import { TCP_STATES } from '../../src/model/tcp-state.ts';
import { traceEvent } from './event-fixture.ts';

// A small deterministic generator: the same events on every run.
let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const COMMS = [
  null,
  'curl',
  'python3',
  'a b c',
  'quote"d',
  'back\\slash',
  'new\nline',
  'tab\t',
  '\u0001ctl',
  'naïve',
  '名前',
  '\ud800lone',
  'emoji😀',
  '',
];
const ADDRS = ['127.0.0.1', '10.1.2.3', '::1', '2001:db8::1', 'fe80::1%eth0'];
const TYPES: TraceEventType[] = [
  'state',
  'reset-sent',
  'reset-received',
  'retransmit',
  'synack-retransmit',
  'drop',
  'life',
];
const MS = () =>
  pick([
    () => null,
    () => 0,
    () => Math.floor(rnd() * 1e9) / 1000,
    () => Math.floor(rnd() * 1000) / 1000,
    () => Math.floor(rnd() * 1e7),
    () => rnd() * 1e3,
    () => -Math.floor(rnd() * 1e6) / 1000,
    () => 1e15 / 1000 + 0.5,
    () => 123456789012.345,
    () => 0.1 + 0.2,
  ])();

function randomEvent(): TraceEvent {
  const type = pick(TYPES);
  const e = traceEvent({
    timeMs: 1_700_000_000_000 + rnd() * 1e8,
    type,
    pid: pick([null, 1, 42, 4_194_304, Math.floor(rnd() * 1e6)]),
    comm: pick(COMMS),
    family: pick(['ipv4', 'ipv6'] as const),
    saddr: pick(ADDRS),
    sport: Math.floor(rnd() * 65536),
    daddr: pick(ADDRS),
    dport: Math.floor(rnd() * 65536),
    oldState: pick([null, ...TCP_STATES]),
    newState: pick([null, ...TCP_STATES]),
    ms: MS(),
    sk: pick(['0', 'ffff888102a76180', '127.0.0.1:80-10.0.0.1:5']),
  });
  if (rnd() < 0.2) e.derived = true;
  if (rnd() < 0.1) e.sampled = true;
  if (rnd() < 0.3) e.reason = pick(['NO_SOCKET', 'TCP_LISTEN_OVERFLOW', 'UNKNOWN_999', 'we"ird']);
  if (type === 'drop') {
    e.direction = pick(['in', 'out'] as const);
    if (rnd() < 0.8) e.where = pick(['tcp_v4_rcv', 'cookie_v4_check', '0xffffffff81000000']);
    if (rnd() < 0.3) e.noise = true;
  }
  if (type === 'life') {
    e.bytesSent = Math.floor(rnd() * 1e12);
    e.bytesReceived = pick([0, 1, Math.floor(rnd() * 1e6)]);
  }
  return e;
}

test('the byte writer puts out each event as JSON.stringify writes its documented object, over thousands of varied events', () => {
  const w = new TraceNdjsonWriter();
  let expected = '';
  const chunks: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) {
    const e = randomEvent();
    const line = stringified(e);
    if (i % 97 === 0) assert.equal(traceEventLine(e), line);
    expected += line;
    w.event(e);
    if (i % 1000 === 999) {
      w.text(lostLine(i, 1_700_000_000_000));
      expected += lostLine(i, 1_700_000_000_000);
    }
    if (i % 777 === 0) chunks.push(Buffer.from(w.take()));
  }
  chunks.push(w.take());
  assert.equal(w.size, 0);
  const got = Buffer.concat(chunks);
  assert.equal(got.length, Buffer.byteLength(expected));
  assert.ok(got.equals(Buffer.from(expected)), 'bytes differ');
});

test('times and durations at their edges print as JSON.stringify prints them', () => {
  const edges: number[] = [
    0,
    0.001,
    0.01,
    0.1,
    0.5,
    1,
    9.999,
    10,
    999.999,
    1000.001,
    123456.7,
    2 ** 53 - 1,
    2 ** 53 + 2,
    1e21,
    1e-7,
    -0,
    -1,
    -0.001,
  ];
  const times = [0, 999.999, 1_700_000_000_999.9998, 1_700_000_001_000, 1_700_000_000_000.5, 86_399_999.9];
  const w = new TraceNdjsonWriter();
  let expected = '';
  for (const ms of edges) {
    for (const timeMs of times) {
      const e = traceEvent({ timeMs, ms, pid: Number.isSafeInteger(ms) ? ms : 7, sport: 0, dport: 65535 });
      expected += stringified(e);
      w.event(e);
    }
  }
  assert.equal(w.take().toString('utf8'), expected);
});
