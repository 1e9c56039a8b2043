import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildScript, FLUSH_INTERVAL_MS, portCondition, tracepointsFor } from '../../src/trace/script.ts';

const ALL = ['state', 'reset', 'retrans', 'synack'] as const;

/** The probe blocks of a script, by attach point. */
function probes(script: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const block of script.split(/\n\n/)) {
    const name = block.split('\n')[0]!.trim();
    if (name) out.set(name, block);
  }
  return out;
}

/** Each printf's tag and its number of space-separated fields before the process name. */
function printfShapes(script: string): Map<string, number> {
  const shapes = new Map<string, number>();
  for (const m of script.matchAll(/printf\("(\w) ([^"]*)"/g)) {
    const fields = m[2]!.split(' ').length; // after the tag, comm (%s) last
    const prev = shapes.get(m[1]!);
    assert.ok(prev === undefined || prev === fields, `the two family variants of ${m[1]} differ`);
    shapes.set(m[1]!, fields);
  }
  return shapes;
}

test('attaches the state tracepoint always, and the others only for the events asked', () => {
  assert.deepEqual(tracepointsFor(['retrans']), ['sock:inet_sock_set_state', 'tcp:tcp_retransmit_skb']);
  assert.deepEqual(tracepointsFor(['state']), [
    'sock:inet_sock_set_state',
    'tcp:tcp_send_reset',
    'tcp:tcp_receive_reset',
  ]);
  assert.deepEqual(tracepointsFor([...ALL]).length, 5);
  const names = [...probes(buildScript({ events: ['synack'] })).keys()];
  assert.deepEqual(names, [
    'BEGIN {',
    'tracepoint:sock:inet_sock_set_state',
    'tracepoint:tcp:tcp_retransmit_synack',
    `interval:ms:${FLUSH_INTERVAL_MS} {`,
    'END {',
  ]);
});

test('prints each event with the fields the parser reads', () => {
  // parse.ts reads pid at field 5 of S (the tag is field 0; then its two addresses), 7 of R, 8 of Y, 9 of r and T, and comm after it.
  assert.deepEqual(Object.fromEntries(printfShapes(buildScript({ events: [...ALL], resetReason: true }))), {
    S: 8,
    R: 8,
    r: 10,
    T: 10,
    Y: 9,
  });
});

test('keeps state changes of TCP only and filters ports in the kernel, on both ends for --port', () => {
  const s = probes(buildScript({ events: [...ALL], filter: { ports: [80, 443], sports: [8080], dports: [5432] } }));
  const state = s.get('tracepoint:sock:inet_sock_set_state')!;
  assert.match(
    state,
    /\/args->protocol == 6 && \(\(args->sport == 80 \|\| args->sport == 443\) \|\| \(args->dport == 80 \|\| args->dport == 443\)\) && \(args->sport == 8080\) && \(args->dport == 5432\)\//,
  );
  // Resets sent carry whole sockaddrs: the port is bytes 2-3, big-endian.
  assert.match(
    s.get('tracepoint:tcp:tcp_send_reset')!,
    /\(\(uint16\)args->saddr\[2\] << 8\) \| \(uint16\)args->saddr\[3\]\) == 80/,
  );
  for (const name of [
    'tracepoint:tcp:tcp_receive_reset',
    'tracepoint:tcp:tcp_retransmit_skb',
    'tracepoint:tcp:tcp_retransmit_synack',
  ]) {
    assert.match(s.get(name)!, /args->dport == 5432/, name);
  }
  assert.equal(portCondition('a', 'b', {}), '');
});

test('filters states on either side of a change, counting a derived TIME_WAIT as TIME_WAIT', () => {
  const state = probes(buildScript({ events: ['state'], filter: { states: ['TIME_WAIT', 'SYN_SENT'] } })).get(
    'tracepoint:sock:inet_sock_set_state',
  )!;
  assert.match(state, /\$shown = \$derived \? 6 : \$new;/);
  assert.match(
    state,
    /if \(\$old != \$new && \(\(\$old == 6 \|\| \$old == 2\) \|\| \(\$shown == 6 \|\| \$shown == 2\)\)\)/,
  );
  // Owners and times are kept for every change, filtered or not: the filter wraps only the printf.
  const [before, after] = state.split('if ($old != $new && ((');
  assert.match(before!, /@who\[\$sk\] = \(pid, comm\)/);
  assert.match(after!, /@ts\[\$sk\] = \$now/);
});

test('derives TIME_WAIT from FIN_WAIT2/CLOSING → CLOSE unless a reset went through the socket', () => {
  const s = probes(buildScript({ events: ['state'] }));
  assert.match(
    s.get('tracepoint:sock:inet_sock_set_state')!,
    /\$new == 7 && \(\$old == 5 \|\| \$old == 11\) && @rst\[\$sk\] == 0/,
  );
  assert.match(s.get('tracepoint:tcp:tcp_receive_reset')!, /@rst\[\$sk\] = 1;/);
  assert.match(
    s.get('tracepoint:tcp:tcp_send_reset')!,
    /if \(args->state == 5 \|\| args->state == 11\) \{\n\s+@rst\[\$sk\] = 1;/,
  );
  // State changes not asked for: nothing derived, and no printf of state changes.
  const resetsOnly = buildScript({ events: ['reset'] });
  assert.doesNotMatch(resetsOnly, /\$derived|@ts/);
  assert.doesNotMatch(resetsOnly, /printf\("S /);
});

test('filters by the owner pid in every probe that prints', () => {
  const script = buildScript({ events: [...ALL], filter: { pids: [42, 43] } });
  const conds = script.match(/\(\$w\.0 == 42 \|\| \$w\.0 == 43\)\) \{/g) ?? [];
  assert.equal(conds.length, 4, 'state, reset received, retransmit, SYN-ACK retransmit');
  // A reset sent may take its owner from @closing (an abort): the filter is on the owner it prints.
  assert.match(
    probes(script).get('tracepoint:tcp:tcp_send_reset')!,
    /if \(\(\$pid == 42 \|\| \$pid == 43\)\) \{\n\s+printf\("R /,
  );
});

test('gives listeners found before the trace their owner, keyed by namespace and port, with a safe string literal', () => {
  const listeners = [
    { netns: 4026531840, port: 8080, pid: 77, comm: 'na"me\\x' },
    { netns: 4026532999, port: 8080, pid: 78, comm: 'other' },
  ];
  const script = buildScript({ events: ['state'], listeners, sockState: true });
  assert.match(script, /@lis\[\(uint32\)4026531840, \(uint16\)8080\] = \(\(uint64\)77, "na\?me\?x"\);/);
  assert.match(script, /@lis\[\(uint32\)4026532999, \(uint16\)8080\] = \(\(uint64\)78, "other"\);/);
  assert.match(
    script,
    /if \(\$old == 10 && \$new == 3\) \{\n\s+\$l = @lis\[\(\(struct sock \*\)args->skaddr\)->__sk_common.skc_net.net->ns.inum, args->sport\];/,
  );
  // Without BTF every listener is in namespace 0: the port alone, as before.
  assert.match(buildScript({ events: ['state'], listeners }), /@lis\[\(uint32\)0, \(uint16\)8080\]/);
});

test('uses the reset reason field only where the kernel has it, and clears every map at exit', () => {
  assert.match(buildScript({ events: ['reset'], resetReason: true }), /\$state, args->reason, buf/);
  assert.match(buildScript({ events: ['reset'] }), /\$state, -1, buf/);
  const end = probes(buildScript({ events: [...ALL] })).get('END {')!;
  for (const m of ['@ts', '@who', '@lis', '@rst', '@closing']) assert.match(end, new RegExp(`clear\\(${m}\\)`));
});

test('counts only retransmits that went out where the tracepoint reports failed attempts too (err)', () => {
  const retrans = (o: { retransmitErr?: boolean }) =>
    probes(buildScript({ events: ['retrans'], filter: { ports: [80] }, ...o })).get(
      'tracepoint:tcp:tcp_retransmit_skb',
    )!;
  assert.match(
    retrans({ retransmitErr: true }),
    /^\/args->err == 0 && \(\(args->sport == 80\) \|\| \(args->dport == 80\)\)\/$/m,
  );
  assert.doesNotMatch(retrans({}), /err/, 'older kernels have no err field: naming it would not compile');
});

test('applies --state to every event: resets and retransmits by the state their socket is in', () => {
  const s = probes(buildScript({ events: [...ALL], filter: { states: ['ESTABLISHED'] }, sockState: true }));
  assert.match(s.get('tracepoint:tcp:tcp_send_reset')!, /if \(\(\$state == 1\)\) \{\n\s+printf\("R /);
  assert.match(
    s.get('tracepoint:tcp:tcp_receive_reset')!,
    /\$state = \(\(struct sock \*\)args->skaddr\)->__sk_common\.skc_state;/,
  );
  assert.match(s.get('tracepoint:tcp:tcp_receive_reset')!, /if \(\(\$state == 1\)\) \{\n\s+if \(args->family/);
  assert.match(s.get('tracepoint:tcp:tcp_retransmit_skb')!, /if \(\(args->state == 1\)\) \{/);
  assert.equal(s.get('tracepoint:tcp:tcp_retransmit_synack'), undefined, 'a SYN-ACK is retransmitted in SYN_RECV only');
  assert.ok(
    probes(buildScript({ events: [...ALL], filter: { states: ['SYN_RECV'] } })).has(
      'tracepoint:tcp:tcp_retransmit_synack',
    ),
  );
  // Without the kernel's BTF the state of a reset received is unknown (0): it never passes a state filter.
  assert.match(buildScript({ events: ['reset'] }), /\$state = 0;/);
});

test('skips a change to the same state (FIN_WAIT1 → FIN_WAIT1 at close() after shutdown()) and keeps its start time', () => {
  const state = probes(buildScript({ events: ['state'] })).get('tracepoint:sock:inet_sock_set_state')!;
  assert.match(state, /if \(\$old != \$new\) \{\n\s+if \(args->family/);
  assert.match(state, /\} else if \(\$old != \$new\) \{\n\s+@ts\[\$sk\] = \$now;/);
  // The owner is still learned from that close().
  assert.match(
    state,
    /if \(\$new == 2 \|\| \$new == 10 \|\| \$new == 4 \|\| \$new == 9\) \{\n\s+@who\[\$sk\] = \(pid, comm\);/,
  );
});

test("keeps an aborted socket's owner and last state for the reset it sends after entering CLOSE", () => {
  const s = probes(buildScript({ events: ['reset'] }));
  const state = s.get('tracepoint:sock:inet_sock_set_state')!;
  const [keep, forget] = [
    state.indexOf('@closing[cpu] = ($sk, $w.0, $w.1, $old);'),
    state.indexOf('delete(@who[$sk]);'),
  ];
  assert.ok(keep > 0 && keep < forget, 'written before the owner is forgotten');
  // Not for a socket closed by a reset it received: on loopback that CLOSE comes between the aborting
  // socket's CLOSE and its reset, on the same CPU.
  assert.match(state, /if \(\$new == 7 && \$old != \$new && @rst\[\$sk\] == 0\) \{\n\s+@closing\[cpu\]/);
  assert.match(s.get('tracepoint:tcp:tcp_receive_reset')!, /@rst\[\$sk\] = 1;/);
  assert.match(state, /if \(\$new == 7\) \{\n\s+delete\(@who\[\$sk\]\);\n\s+delete\(@rst\[\$sk\]\);/);
  assert.match(
    s.get('tracepoint:tcp:tcp_send_reset')!,
    /if \(\$state == 7 && \$c\.0 == \$sk\) \{\n\s+\$pid = \$c\.1;\n\s+\$comm = \$c\.2;\n\s+\$state = \$c\.3;\n\s+delete\(@closing\[cpu\]\);/,
  );
  assert.doesNotMatch(buildScript({ events: ['state'] }), /@closing/, 'not without reset events');
});
