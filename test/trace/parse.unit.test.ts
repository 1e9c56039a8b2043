import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeSockaddr, parseBpftraceLine, parseSymbolicNames, type BpftraceMessage } from '../../src/trace/parse.ts';
import type { TraceEvent } from '../../src/trace/event.ts';

// Captured from bpftrace 0.17 on Linux 6.18 running buildScript() with --port on a Python server:
// an IPv6 connection closed by the client first, one the server aborted (SO_LINGER 0), a connect to
// a closed IPv4 port; then a lost_events line and a hand-written event with an awkward comm. The two
// reset-received lines got the state field the script prints since (ESTABLISHED and SYN_SENT, the
// states those sockets were in), inserted by hand. The state changes were rewritten into the packed
// layout the script prints since (script.ts: one code for the small numbers, IPv4 addresses as numbers).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const reasons = parseSymbolicNames(fixture('tcp_send_reset.format'), 'reason');
const ctx = { monoToEpochMs: 1_700_000_000_000, resetReasons: reasons };

function parseAll(): BpftraceMessage[] {
  return fixture('bpftrace-output.ndjson')
    .split('\n')
    .map((l) => parseBpftraceLine(l, ctx))
    .filter((m): m is BpftraceMessage => m !== null);
}

const events = () => parseAll().flatMap((m) => (m.kind === 'event' ? [m.event] : []));

test('reads the names of reset reasons from the tracepoint format', () => {
  assert.equal(reasons.get(0), 'NOT_SPECIFIED');
  assert.equal(reasons.get(1), 'NO_SOCKET');
  assert.equal(reasons.get(14), 'TCP_STATE');
  assert.ok(reasons.size >= 20);
  assert.equal(parseSymbolicNames('print fmt: "x"', 'reason').size, 0, 'kernels before 6.10 have no reason');
});

test('turns each kind of bpftrace line into its message', () => {
  const msgs = parseAll();
  assert.equal(msgs[0]!.kind, 'begin');
  assert.deepEqual(
    msgs.filter((m) => m.kind === 'lost'),
    [{ kind: 'lost', events: 2351 }],
  );
  assert.equal(parseBpftraceLine('__BPFTRACE_NOTIFY_PROBES_ATTACHED', ctx)?.kind, 'attached');
  assert.equal(parseBpftraceLine('{"type": "attached_probes", "data": {"probes": 7}}', ctx), null);
  assert.equal(parseBpftraceLine('', ctx), null);
  const byType = new Map<string, number>();
  for (const e of events()) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(byType), { state: 20, 'reset-received': 2, 'reset-sent': 2 });
});

test('a connection closed by the client first: every state, the derived TIME_WAIT, the owners and times', () => {
  const client = events().filter((e) => e.type === 'state' && e.sk === 'ffff888102a76180' && e.dport === 58959);
  assert.deepEqual(
    client.map((e) => `${e.oldState}>${e.newState}${e.derived ? '*' : ''}`),
    ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>TIME_WAIT*'],
  );
  const [syn, est] = client;
  assert.equal(syn!.family, 'ipv6');
  assert.equal(syn!.saddr, '::1');
  assert.equal(syn!.sport, 0, 'connect() enters SYN_SENT before it picks the local port');
  assert.equal(syn!.ms, null, 'no time for a state whose start was not seen');
  assert.equal(est!.sport, 47700);
  assert.equal(est!.ms, 0.084);
  assert.equal(est!.pid, 11961);
  assert.equal(est!.comm, 'python3');
  assert.equal(est!.timeMs, 10056543014617 / 1e6 + ctx.monoToEpochMs);
  // The accepting side: the listener existed before the trace and was not passed in, so no owner until its close().
  const server = events().filter((e) => e.type === 'state' && e.sport === 58959 && e.dport === 47700);
  assert.deepEqual(
    server.map((e) => `${e.oldState}>${e.newState}${e.derived ? '*' : ''}:${e.pid}`),
    [
      'LISTEN>SYN_RECV:null',
      'SYN_RECV>ESTABLISHED:null',
      'ESTABLISHED>CLOSE_WAIT:null',
      'CLOSE_WAIT>LAST_ACK:11961',
      'LAST_ACK>CLOSE:11961',
    ],
  );
});

test('resets: an abort sent in CLOSE and received by the peer, and one sent for a closed port with no socket', () => {
  const resets = events().filter((e) => e.type !== 'state');
  const [abortRecv, abortSent, closedSent, closedRecv] = resets as [TraceEvent, TraceEvent, TraceEvent, TraceEvent];
  assert.equal(abortRecv.type, 'reset-received');
  assert.deepEqual([abortRecv.saddr, abortRecv.sport, abortRecv.daddr, abortRecv.dport], ['::1', 47706, '::1', 58959]);
  assert.equal(abortRecv.oldState, 'ESTABLISHED');
  assert.equal(abortRecv.pid, 11961);
  assert.equal(abortRecv.family, 'ipv6');
  assert.equal(abortSent.type, 'reset-sent');
  assert.deepEqual(
    [abortSent.family, abortSent.saddr, abortSent.sport, abortSent.daddr, abortSent.dport],
    ['ipv6', '::1', 58959, '::1', 47706],
  );
  assert.equal(abortSent.oldState, 'CLOSE');
  assert.equal(abortSent.reason, 'TCP_STATE');
  assert.equal(closedSent.type, 'reset-sent');
  assert.deepEqual(
    [closedSent.family, closedSent.saddr, closedSent.sport, closedSent.daddr, closedSent.dport],
    ['ipv4', '127.0.0.1', 34153, '127.0.0.1', 52554],
  );
  assert.equal(closedSent.oldState, null, 'no socket');
  assert.equal(closedSent.reason, 'NO_SOCKET');
  assert.equal(closedSent.pid, null);
  assert.equal(closedRecv.type, 'reset-received');
  assert.equal(closedRecv.sport, 52554);
  assert.equal(closedRecv.oldState, 'SYN_SENT', 'a refused connect');
  assert.equal(closedRecv.family, 'ipv4');
});

test('takes a process name with spaces, quotes and backslashes whole, and shows IPv4-mapped addresses as IPv4', () => {
  const e = events().at(-1)!;
  assert.equal(e.comm, 'my "app\\');
  assert.equal(e.pid, 4242);
  assert.equal(e.saddr, '127.0.0.1');
  assert.equal(e.daddr, '10.0.0.1');
  assert.equal(e.ms, 1.5);
});

test('decodes struct sockaddr_in and sockaddr_in6 as printed by %rx', () => {
  const hex = (bytes: number[]) => bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  const v4 = [2, 0, 0x1f, 0x90, 10, 1, 2, 3, ...new Array(20).fill(0)];
  assert.deepEqual(decodeSockaddr(hex(v4)), { family: 'ipv4', address: '10.1.2.3', port: 8080 });
  const v6 = [10, 0, 0x01, 0xbb, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, 0, 0, 0, 0];
  assert.deepEqual(decodeSockaddr(hex(v6)), { family: 'ipv6', address: '2001:db8::1', port: 443 });
  assert.throws(() => decodeSockaddr(hex(new Array(28).fill(0))), /family/);
});

test('rejects output it does not understand instead of guessing', () => {
  assert.throws(() => parseBpftraceLine('{"type": "printf", "data": "Z 1 2"}', ctx), /unexpected/);
  assert.throws(() => parseBpftraceLine('{"type": "printf", "data": "S 1 ff 23 -1 0 a b "}', ctx), /IPv4 address/);
  assert.throws(
    () => parseBpftraceLine('{"type": "printf", "data": "S 1 ff 23 -1 0 4294967296 1 "}', ctx),
    /IPv4 address/,
  );
  assert.throws(() => parseBpftraceLine('{"type": "printf", "data": "S 1 ff x -1 0 1 1 "}', ctx), /code/);
});

test('reads bpftrace text output (what tcplens runs) into the same messages as its JSON output', () => {
  // The fixture's lines as bpftrace prints them without -f json: each printf's data as a line.
  const text = fixture('bpftrace-output.ndjson')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = JSON.parse(l) as { type: string; data: unknown };
      if (m.type === 'printf') return m.data as string;
      if (m.type === 'lost_events') return `Lost ${(m.data as { events: number }).events} events`;
      return `Attaching ${(m.data as { probes: number }).probes} probes...`;
    });
  assert.ok(
    text.some((l) => l.includes('\\x0a')),
    'resets sent carry their %rx bytes unescaped',
  );
  const fromText = [...text, ''].map((l) => parseBpftraceLine(l, ctx)).filter((m) => m !== null);
  assert.deepEqual(fromText, parseAll());
  assert.deepEqual(parseBpftraceLine('Lost 17 events', ctx), { kind: 'lost', events: 17 });
  assert.equal(parseBpftraceLine('Attaching 1 probe...', ctx), null);
  // A newline inside a process name: the rest comes as a line of its own, for the reader to join.
  assert.deepEqual(parseBpftraceLine('two"', ctx), { kind: 'text', text: 'two"' });
  assert.throws(() => parseBpftraceLine('S 1 ff 23 -1 0 a b ', ctx), /IPv4 address/);
});
