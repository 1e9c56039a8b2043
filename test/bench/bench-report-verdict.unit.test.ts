import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdict, timeWaitReuse } from '../../src/bench/verdict.ts';
import type { KernelFootprint, TimeWaitReuse } from '../../src/model/bench-result.ts';

type Input = Parameters<typeof verdict>[0];

/** The reviewer's run: 1,000 ports, the client closing first at 1,000 new connections/s against 127.0.0.1. */
function closeRun(reuse: TimeWaitReuse | undefined, over: Partial<Input> = {}): Input {
  const kernel: KernelFootprint = {
    timeWaitPeak: 5000,
    timeWaitPeakClientSide: 5000,
    timeWaitPeakServerSide: 0,
    ephemeralPortsPeak: 1000,
    ephemeralPortsUsable: 1000,
    samples: 6,
    counters: {},
    targetIsLocal: true,
  };
  if (reuse) kernel.timeWaitReuse = reuse;
  return {
    mode: 'close',
    connections: 8,
    durationS: 5,
    errors: {},
    errorDetails: [],
    kernel,
    requests: { total: 5000, ok: 5000, failed: 0, perSecond: 1000 },
    connectionsOpened: 5000,
    ...over,
  };
}

const loopback = (tcpTwReuse: number, tcpTimestamps = 1): TimeWaitReuse => ({
  tcpTwReuse,
  tcpTimestamps,
  delayMs: 1000,
  targetIsLoopback: true,
});
const remote = (tcpTwReuse: number, tcpTimestamps = 1): TimeWaitReuse => ({
  tcpTwReuse,
  tcpTimestamps,
  delayMs: 1000,
  targetIsLoopback: false,
});
const said = (v: ReturnType<typeof verdict>) => v.map((x) => `${x.severity}: ${x.text}`).join('\n');
const portLine = (v: ReturnType<typeof verdict>) => v.find((x) => /new connections\/s/.test(x.text))!;

test('whether TIME_WAIT reuse applies: 1 everywhere, 2 on loopback only, never without timestamps', () => {
  assert.equal(timeWaitReuse(loopback(2)).applies, true);
  assert.equal(timeWaitReuse(remote(2)).applies, false);
  assert.equal(timeWaitReuse(remote(1)).applies, true);
  assert.equal(timeWaitReuse(loopback(1)).applies, true);
  assert.equal(timeWaitReuse(loopback(0)).applies, false);
  assert.equal(timeWaitReuse(loopback(2, 0)).applies, false);
  assert.equal(timeWaitReuse(remote(1, 0)).applies, false);
  assert.equal(timeWaitReuse(undefined).applies, undefined);
  assert.match(timeWaitReuse(remote(2)).fix!, /tcp_tw_reuse=1.*loopback targets only/);
  assert.match(timeWaitReuse(loopback(2, 0)).fix!, /tcp_timestamps=1 on this client/);
  assert.doesNotMatch(timeWaitReuse(loopback(2, 0)).fix!, /tcp_tw_reuse=1/);
  assert.match(timeWaitReuse(remote(0, 0)).fix!, /tcp_timestamps=1 and tcp_tw_reuse=1/);
});

test('tcp_tw_reuse=2 against loopback: no EADDRNOTAVAIL predicted at 1,000/s over 1,000 ports, no advice to set what is in effect', () => {
  const v = verdict(closeRun(loopback(2)));
  const line = portLine(v);
  assert.notEqual(line.severity, 'critical');
  assert.doesNotMatch(said(v), /EADDRNOTAVAIL ahead/);
  assert.doesNotMatch(said(v), /set tcp_tw_reuse/);
  assert.match(
    line.text,
    /tcp_tw_reuse=2 \(loopback only\) lets connect\(\) take over a TIME_WAIT port towards this target once it is 1 s old/,
  );
  assert.match(line.text, /last to about 1,000\/s/);
});

test('reuse that applies still predicts EADDRNOTAVAIL when connections outrun the range every reuse delay', () => {
  const v = verdict(closeRun(loopback(1), { connectionsOpened: 15000 }));
  const line = portLine(v);
  assert.equal(line.severity, 'critical');
  assert.match(line.text, /EADDRNOTAVAIL ahead even with reuse — use keep-alive or widen ip_local_port_range/);
  assert.doesNotMatch(line.text, /set tcp_tw_reuse/);
});

test('tcp_tw_reuse=2 against a remote address: EADDRNOTAVAIL ahead, and set tcp_tw_reuse=1', () => {
  const v = verdict(closeRun(remote(2)));
  const line = portLine(v);
  assert.equal(line.severity, 'critical');
  assert.match(
    line.text,
    /EADDRNOTAVAIL ahead — use keep-alive, or set tcp_tw_reuse=1 on this client \(2 covers loopback targets only\)/,
  );
});

test('tcp_tw_reuse=1 against a remote address: reuse applies if the server uses timestamps too', () => {
  const line = portLine(verdict(closeRun(remote(1))));
  assert.notEqual(line.severity, 'critical');
  assert.match(line.text, /tcp_tw_reuse=1 lets connect\(\) take over .* \(if the server uses TCP timestamps too\)/);
});

test('tcp_tw_reuse=0, or timestamps off: EADDRNOTAVAIL ahead, with the knob that would change it', () => {
  assert.match(
    portLine(verdict(closeRun(loopback(0)))).text,
    /EADDRNOTAVAIL ahead — use keep-alive, or set tcp_tw_reuse=1 on this client/,
  );
  const noTs = portLine(verdict(closeRun(loopback(2, 0))));
  assert.equal(noTs.severity, 'critical');
  assert.match(noTs.text, /set tcp_timestamps=1 on this client \(reuse needs timestamps\)/);
});

test('a file without the reuse knobs keeps the general advice', () => {
  const line = portLine(verdict(closeRun(undefined)));
  assert.equal(line.severity, 'critical');
  assert.match(line.text, /EADDRNOTAVAIL ahead — use keep-alive, or set tcp_tw_reuse=1 on this client/);
});

test('EADDRNOTAVAIL seen with reuse in effect: advise keep-alive and a wider range, not tcp_tw_reuse', () => {
  const details = [{ code: 'EADDRNOTAVAIL', count: 300, first: 'connect EADDRNOTAVAIL 127.0.0.1:8080', meaning: '' }];
  const errors = { EADDRNOTAVAIL: 300 };
  const requests = { total: 5000, ok: 4700, failed: 300, perSecond: 940 };
  const withReuse = said(verdict(closeRun(loopback(2), { errors, errorDetails: details, requests })));
  assert.match(
    withReuse,
    /widen ip_local_port_range: tcp_tw_reuse=2 \(loopback only\) already reuses TIME_WAIT ports towards this target\./,
  );
  const without = said(verdict(closeRun(remote(2), { errors, errorDetails: details, requests })));
  assert.match(without, /widen ip_local_port_range or set tcp_tw_reuse=1 on this client/);
});

test('a missed rate says so: -R 200,000 reaching 28,000/s', () => {
  const run = closeRun(loopback(2), {
    mode: 'keepalive',
    rate: 200_000,
    durationS: 5,
    connectionsOpened: 8,
    requests: { total: 140_000, ok: 140_000, failed: 0, perSecond: 28_000 },
  });
  const v = verdict(run);
  const line = v.find((x) => /asked for/.test(x.text));
  assert.ok(line, said(v));
  assert.equal(line.severity, 'warning');
  assert.match(line.text, /asked for 200,000 requests\/s, reached 28,000\/s \(14%\)/);
  // Within 10% of the rate: nothing to say.
  const near = verdict({ ...run, rate: 30_000 });
  assert.equal(
    near.find((x) => /asked for/.test(x.text)),
    undefined,
  );
});

test('a run where most requests failed gets a ✖ verdict, a few failures a warning, none nothing', () => {
  const refused = [
    {
      code: 'ECONNREFUSED',
      count: 44_310,
      first: 'connect ECONNREFUSED 127.0.0.1:8080',
      meaning: 'nothing listens on the port, or the listener is gone: the kernel answered the SYN with RST',
    },
  ];
  const dead = closeRun(loopback(2), {
    mode: 'keepalive',
    connections: 64,
    connectionsOpened: 64,
    errors: { ECONNREFUSED: 44_310 },
    errorDetails: refused,
    requests: { total: 44_430, ok: 120, failed: 44_310, perSecond: 24 },
  });
  const v = verdict(dead);
  assert.equal(v[0]!.severity, 'critical');
  // 99.7%, not a rounded "100%": 120 requests were answered.
  assert.match(v[0]!.text, /^44,310 of 44,430 requests failed \(99\.7%\), all with ECONNREFUSED — nothing listens/);
  assert.ok(!v.some((x) => x.severity === 'ok'), 'no ✔ on a failed run');

  const some = verdict({
    ...dead,
    errors: { ECONNREFUSED: 50 },
    errorDetails: [{ ...refused[0]!, count: 50 }],
    requests: { total: 5000, ok: 4950, failed: 50, perSecond: 990 },
  });
  assert.equal(some[0]!.severity, 'warning');
  assert.match(some[0]!.text, /^50 of 5,000 requests failed \(1\.0%\)/);

  const none = verdict({
    ...dead,
    errors: {},
    errorDetails: [],
    requests: { total: 5000, ok: 5000, failed: 0, perSecond: 1000 },
  });
  assert.ok(!none.some((x) => /failed/.test(x.text)), said(none));
  assert.ok(none.some((x) => x.severity === 'ok'));
});

test('failed connects (no request sent on them) count towards a failing run', () => {
  const refused = [
    {
      code: 'ECONNREFUSED',
      count: 300,
      first: 'connect ECONNREFUSED 127.0.0.1:8080',
      meaning: 'nothing listens on the port',
    },
  ];
  const base = closeRun(loopback(2), {
    mode: 'keepalive',
    connections: 64,
    connectionsOpened: 64,
    errors: { ECONNREFUSED: 300 },
    errorDetails: refused,
  });
  const v = verdict({ ...base, connectErrors: 300, requests: { total: 120, ok: 120, failed: 0, perSecond: 24 } });
  assert.equal(v[0]!.severity, 'critical');
  assert.match(v[0]!.text, /^300 of 364 connection attempts failed \(82%\), all with ECONNREFUSED/);
  const none = verdict({ ...base, connectErrors: 300, requests: { total: 0, ok: 0, failed: 0, perSecond: 0 } });
  assert.match(
    none[0]!.text,
    /^no connection could be opened: 300 attempts failed with ECONNREFUSED \(connect ECONNREFUSED 127\.0\.0\.1:8080\)/,
  );
});
