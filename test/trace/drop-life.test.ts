import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBpftraceLine, parseSymbolicNames } from '../../src/trace/parse.ts';
import { planEvents } from '../../src/trace/kernel-support.ts';
import { buildScript, tracepointsFor } from '../../src/trace/script.ts';
import { summarizeTrace } from '../../src/trace/summary.ts';
import { renderTraceSummary, traceEventJson, traceEventLine, traceEventText } from '../../src/render/trace.ts';
import { dropReasonMeaning, isNoiseDropReason } from '../../src/analyze/drop-reasons.ts';
import type { TraceEvent } from '../../src/trace/event.ts';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const KFREE_618 = fixture('kfree_skb-6.18.format');
const KFREE_515 = fixture('kfree_skb-5.15.format');
const names = parseSymbolicNames(KFREE_618, 'reason');
const ctx = { monoToEpochMs: 1_700_000_000_000, dropReasons: names };
const printf = (data: string) => JSON.stringify({ type: 'printf', data });
const parse = (data: string): TraceEvent => {
  const m = parseBpftraceLine(printf(data), ctx);
  assert.equal(m?.kind, 'event');
  return (m as { event: TraceEvent }).event;
};

test("reads every drop reason name from the running kernel's format, never from a table of numbers", () => {
  assert.equal(names.get(40), 'TCP_LISTEN_OVERFLOW');
  assert.equal(names.get(2), 'NOT_SPECIFIED');
  assert.equal(names.get(3), 'NO_SOCKET');
  // The same name under another number in another kernel's format is read as that kernel says.
  const shifted = KFREE_618.replace('{ 40, "TCP_LISTEN_OVERFLOW" }', '{ 41, "TCP_LISTEN_OVERFLOW" }').replace(
    '{ 41, "TCP_OLD_SEQUENCE" }',
    '{ 40, "TCP_OLD_SEQUENCE" }',
  );
  assert.equal(parseSymbolicNames(shifted, 'reason').get(41), 'TCP_LISTEN_OVERFLOW');
  assert.ok(names.size > 100);
});

test("a drop arriving at a full listener: local end from the packet's destination, reason by name, owner and state", () => {
  const e = parse('D 1000000 ffff888102a76180 10 40 0 4 58724 27802 127.0.0.1 127.0.0.1 tcp_v4_rcv 4242 python3');
  assert.equal(e.type, 'drop');
  assert.equal(e.reason, 'TCP_LISTEN_OVERFLOW');
  assert.deepEqual([e.saddr, e.sport, e.daddr, e.dport], ['127.0.0.1', 27802, '127.0.0.1', 58724]);
  assert.equal(e.direction, 'in');
  assert.equal(e.oldState, 'LISTEN');
  assert.deepEqual([e.pid, e.comm, e.where, e.sk], [4242, 'python3', 'tcp_v4_rcv', 'ffff888102a76180']);
  assert.equal(e.noise, undefined);
  const json = traceEventJson(e);
  assert.equal(json.type, 'drop');
  assert.equal(json.reason, 'TCP_LISTEN_OVERFLOW');
  assert.equal(json.sk, 'ffff888102a76180');
  assert.deepEqual(JSON.parse(traceEventLine(e)), json);
  assert.match(
    traceEventText(e, false),
    /4242\/python3\s+127\.0\.0\.1:27802\s+→ 127\.0\.0\.1:58724\s+dropped in LISTEN: TCP_LISTEN_OVERFLOW/,
  );
});

test("a drop leaving (a qdisc's): the local end is the source; no socket: sk null, no owner; an unknown number keeps its number", () => {
  const out = parse('D 1000000 0 0 64 1 6 443 51000 2001:db8::1 2001:db8::2 __dev_queue_xmit 0 ');
  assert.deepEqual(
    [out.saddr, out.sport, out.daddr, out.dport, out.direction],
    ['2001:db8::1', 443, '2001:db8::2', 51000, 'out'],
  );
  assert.equal(out.reason, 'QDISC_DROP');
  assert.equal(traceEventJson(out).sk, null);
  assert.equal(out.pid, null);
  assert.equal(parse('D 1 0 0 999 0 4 1 2 10.0.0.1 10.0.0.2 f 0 ').reason, 'UNKNOWN_999');
});

test('noise reasons are marked, counted in the summary and listed apart; meanings say which counter moves', () => {
  const noise = parse('D 1000000 0 0 2 0 4 40000 8080 127.0.0.1 127.0.0.1 tcp_v4_rcv 0 ');
  assert.equal(noise.noise, true);
  assert.equal(traceEventJson(noise).noise, true);
  assert.ok(isNoiseDropReason('NOT_SPECIFIED') && isNoiseDropReason('QUEUE_PURGE'));
  assert.equal(dropReasonMeaning('TCP_LISTEN_OVERFLOW')?.counter, 'TcpExt.ListenOverflows');
  assert.equal(dropReasonMeaning('constructor'), undefined);
  const overflow = parse('D 1000000 ffff1 10 40 0 4 58724 8080 127.0.0.1 127.0.0.1 tcp_v4_rcv 42 py');
  const s = summarizeTrace([overflow, overflow, noise], {
    backend: 'bpftrace',
    durationS: 1,
    lostEvents: 0,
    missedEvents: 0,
  });
  assert.equal(s.events.drop, 3);
  assert.deepEqual(s.drops, [
    { reason: 'TCP_LISTEN_OVERFLOW', port: 8080, count: 2, noise: false },
    { reason: 'NOT_SPECIFIED', port: 8080, count: 1, noise: true },
  ]);
  const text = renderTraceSummary(s, false);
  assert.match(text, /TCP_LISTEN_OVERFLOW\s+8080\s+2\s+a listener's accept queue was full/);
  assert.match(text, /not shown one by one .*: NOT_SPECIFIED ×1/);
});

test('a connection ended: both ends, its whole life, application bytes, the owner and the socket id', () => {
  const e = parse('L 2000000 ffff888121f9d340 5 4 47492 18999 127.0.0.1 127.0.0.1 152740 1000 2000 21137 python3');
  assert.equal(e.type, 'life');
  assert.deepEqual(
    [e.sport, e.dport, e.oldState, e.ms, e.bytesSent, e.bytesReceived, e.pid],
    [47492, 18999, 'FIN_WAIT2', 152.74, 1000, 2000, 21137],
  );
  const json = traceEventJson(e);
  assert.deepEqual([json.bytesSent, json.bytesReceived, json.sk], [1000, 2000, 'ffff888121f9d340']);
  assert.deepEqual(JSON.parse(traceEventLine(e)), json);
  assert.match(traceEventText(e, false), /closed from FIN_WAIT2: sent 1000 B, received 2000 B\s+152\.740/);
});

test("the script reads drops from kfree_skb with egress reasons by this kernel's numbers, and lifetimes at CLOSE", () => {
  assert.deepEqual(tracepointsFor(['drop']), ['sock:inet_sock_set_state', 'skb:kfree_skb']);
  const plan = planEvents(['drop', 'life'], { kfreeSkbFormat: KFREE_618, btf: true });
  assert.ok(plan.egressDropCodes.includes(64) && !plan.egressDropCodes.includes(40));
  const script = buildScript({
    events: plan.events,
    egressDropCodes: plan.egressDropCodes,
    dropRxSk: plan.dropRxSk,
    sockState: true,
    filter: { ports: [8080], pids: [7] },
  });
  assert.match(script, /tracepoint:skb:kfree_skb\n\/args->protocol == 2048 \|\| args->protocol == 34525\//);
  assert.match(script, /\$out = \(args->reason == 54 \|\| [^\n]*args->reason == 64/);
  assert.match(script, /if \(\(\(\$lp == 8080\) \|\| \(\$rp == 8080\)\) && \(\$w\.0 == 7\)\) \{/);
  assert.match(script, /printf\("L %llu %llx %d 4 /);
  assert.match(script, /clear\(@birth\)/);
});

test('a kernel without the reason field (before 5.17) or without BTF: one line for what is missing, the other events stay', () => {
  const old = planEvents(['state', 'reset', 'drop'], { kfreeSkbFormat: KFREE_515, btf: true });
  assert.deepEqual(old.events, ['state', 'reset']);
  assert.deepEqual(old.notices, [
    "no drop events: this kernel's skb:kfree_skb has no reason field (Linux 5.17 or later has it)",
  ]);
  const noBtf = planEvents(['state', 'drop', 'life'], { kfreeSkbFormat: KFREE_618, btf: false });
  assert.deepEqual(noBtf.events, ['state']);
  assert.equal(noBtf.notices.length, 2);
  assert.match(noBtf.notices[0]!, /^no drop events: they need the kernel's BTF/);
  assert.match(noBtf.notices[1]!, /^no life events: they need the kernel's BTF/);
  assert.deepEqual(planEvents(['state'], { kfreeSkbFormat: undefined, btf: false }).notices, []);
  assert.throws(() => planEvents(['drop'], { kfreeSkbFormat: KFREE_515, btf: true }), /no reason field/);
  // Before 6.12 there is no rx_sk: drops still come, without socket.
  assert.equal(
    planEvents(['drop'], { kfreeSkbFormat: KFREE_618.replace(/\n\tfield:void \* rx_sk;[^\n]*/, ''), btf: true })
      .dropRxSk,
    false,
  );
});
