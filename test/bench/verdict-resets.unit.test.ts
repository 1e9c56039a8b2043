import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdict } from '../../src/bench/verdict.ts';
import type { KernelFootprint, TracedResets } from '../../src/model/bench-result.ts';

type Input = Parameters<typeof verdict>[0];

function keepaliveRun(counters: Record<string, number>, over: Partial<Input> = {}, targetIsLocal = true): Input {
  const kernel: KernelFootprint = {
    timeWaitPeak: 0,
    timeWaitPeakClientSide: 0,
    timeWaitPeakServerSide: 0,
    ephemeralPortsPeak: 4,
    ephemeralPortsUsable: 28_000,
    samples: 3,
    counters,
    targetIsLocal,
  };
  return {
    mode: 'keepalive',
    connections: 4,
    durationS: 2,
    errors: {},
    errorDetails: [],
    kernel,
    requests: { total: 5000, ok: 5000, failed: 0, perSecond: 2500 },
    connectionsOpened: 54,
    target: 'https://127.0.0.1:18443/',
    ...over,
  };
}

const line = (v: ReturnType<typeof verdict>, re: RegExp) => v.filter((x) => re.test(x.text)).map((x) => x.text);

test("from the counters alone: the host's resets are not said to be anyone's; those this client met are the server's; the trace that tells is named", () => {
  const quiet = line(verdict(keepaliveRun({ 'Tcp.OutRsts': 50, 'Tcp.EstabResets': 50 })), /RST/);
  assert.equal(quiet.length, 1);
  assert.match(
    quiet[0]!,
    /^resets: 50 RSTs sent by this client and the server alike, and by anything else on this host, 50 established connections reset \(counters of the whole host\); none reached a request of this client\. Whose and why: .*tcplens trace --events reset --port 18443/,
  );
  const met = line(
    verdict(keepaliveRun({ 'Tcp.OutRsts': 7, 'Tcp.EstabResets': 7 }, { errors: { ECONNRESET: 5 } }, false)),
    /RST/,
  );
  assert.match(
    met[0]!,
    /by this client's sockets or anything else on this host \(the server's resets are not sent from here\)/,
  );
  assert.match(
    met[0]!,
    /5 requests of this client met a reset \(ECONNRESET\): the server, or something on the way, sent those/,
  );
});

test("with a trace: whose resets they are, the kernel's reason in words, and bench's own check set apart", () => {
  const traced: TracedResets = {
    sent: [
      { sender: 'client', reason: 'TCP_ABORT_ON_DATA', state: 'FIN_WAIT2', count: 50 },
      { sender: 'server', reason: 'NO_SOCKET', state: null, count: 3 },
      { sender: 'client', reason: 'TCP_STATE', state: 'ESTABLISHED', count: 1 },
    ],
    receivedByClient: 3,
    lostEvents: 0,
  };
  const v = verdict(keepaliveRun({ 'Tcp.OutRsts': 54 }, { resetsTraced: traced }));
  assert.deepEqual(line(v, /RST|reset/), [
    "this client's sockets sent 50 RSTs on port 18443 (traced) — 50 TCP_ABORT_ON_DATA in FIN_WAIT2: data arrived after the application had closed its socket.",
    'the server sent 3 RSTs on port 18443 (traced) — 3 NO_SOCKET: nothing listens there (or the connection is long gone).',
    "bench's own check of the target before the run ended with one more reset, on purpose.",
  ]);
  // The host's counters are not said on top: the trace of the port says more.
  assert.equal(line(v, /counters of the whole host/).length, 0);
});

test('a healthy run with a trace: no resets on the port, and a check mark', () => {
  const v = verdict(
    keepaliveRun(
      { 'Tcp.OutRsts': 1 },
      {
        resetsTraced: {
          sent: [{ sender: 'client', reason: 'TCP_STATE', state: 'ESTABLISHED', count: 1 }],
          receivedByClient: 0,
          lostEvents: 0,
        },
      },
    ),
  );
  const ok = v.find((x) => /no resets on port 18443/.test(x.text));
  assert.equal(ok?.severity, 'ok');
  assert.match(ok!.text, /but for bench's own check of the target before it/);
});

test('resets received from a server elsewhere: counted on this client, with no reason (the kernel gives none)', () => {
  const v = verdict(keepaliveRun({}, { resetsTraced: { sent: [], receivedByClient: 4, lostEvents: 2 } }, false));
  assert.deepEqual(line(v, /RST/), [
    "this client's sockets received 4 RSTs from port 18443 (sent by the server or something on the way; the kernel gives no reason for a reset received).",
  ]);
});
