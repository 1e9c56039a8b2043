// The tcp_info rules at their thresholds, on synthetic snapshots (the namespace test builds the real situations).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerRetransmits, PEER_RETRANS_FACTOR } from '../../src/analyze/doctor/peer-retransmits.ts';
import { sendLimits, LIMITED_SHARE_WARNING } from '../../src/analyze/doctor/send-limits.ts';
import { sendQueues } from '../../src/analyze/doctor/send-queue.ts';
import { snapshotWithConnections as snapshot } from './snapshot-fixture.ts';

const peer = (name: string, segsOut: number, retransSegs: number) => ({
  peer: name,
  connections: 1,
  segsOut,
  retransSegs,
});

test('peer retransmits: a peer at 1% and 5x the rest warns, at 5% is critical; not below either bar, nor without a rest', () => {
  const at = (ratio: number, restRatio: number, restSegs = 100_000) =>
    peerRetransmits(
      snapshot({
        peers: [peer('10.0.0.1', 10_000, ratio * 10_000), peer('10.0.0.2', restSegs, restRatio * restSegs)],
        segsOut: 10_000 + restSegs,
        retransSegs: ratio * 10_000 + restRatio * restSegs,
      }),
    );
  assert.equal(at(0.02, 0.001)[0]?.severity, 'warning');
  assert.match(at(0.02, 0.001)[0]!.title, /10\.0\.0\.1 retransmit 2\.0% .* against 0\.10%/);
  assert.equal(at(0.06, 0.001)[0]?.severity, 'critical');
  assert.deepEqual(at(0.009, 0), [], 'below 1%');
  assert.deepEqual(at(0.02, 0.02 / PEER_RETRANS_FACTOR + 0.0001), [], 'not far enough above the rest');
  assert.deepEqual(at(0.02, 0, 500), [], 'too little traffic elsewhere to compare');
  assert.deepEqual(peerRetransmits({ ...snapshot({}), connections: undefined }), [], 'nothing without tcp_info');
});

test("limits: half the busy time held by the receiver's window or the send buffer warns, with the figures; short busy times say nothing", () => {
  const conn = (busyMs: number, rwndLimitedMs: number, sndbufLimitedMs: number) => ({
    connection: 'a:1 -> b:2',
    peer: 'b',
    busyMs,
    rwndLimitedMs,
    sndbufLimitedMs,
    sndBufBytes: 8192,
  });
  const f = sendLimits(
    snapshot({ limited: [conn(2900, 2800, 0), conn(2000, 0, 1500), conn(2000, 999, 0), conn(500, 500, 0)] }),
  );
  assert.deepEqual(
    f.map((x) => x.id),
    ['receive-window-limited', 'send-buffer-limited'],
  );
  assert.equal(f[0]!.evidence.length, 1, 'the 999 of 2,000 ms and the 500 ms busy ones are left out');
  assert.match(f[0]!.evidence[0]!, /2800 of 2900 ms busy \(97%\)/);
  assert.match(f[1]!.evidence[0]!, /1500 of 2000 ms busy \(75%\) in 3 s, send buffer 8 KiB/);
  assert.ok(LIMITED_SHARE_WARNING === 0.5);
});

test('send queues: stuck ones are grouped by peer with the kernel timer; a window under 1 s says nothing', () => {
  const q = (peerName: string, timer: string) => ({
    connection: `x -> ${peerName}:1`,
    peer: peerName,
    sendQueueStartBytes: 1000,
    sendQueueEndBytes: 2000,
    timer,
  });
  const f = sendQueues(
    snapshot({ stuckSendQueues: [q('10.0.0.9', 'zero-window-probe'), q('10.0.0.9', 'zero-window-probe')] }),
  );
  assert.equal(f.length, 1);
  assert.match(f[0]!.title, /2 send queues did not drain in 3 s: nothing acknowledged by 10\.0\.0\.9/);
  assert.match(f[0]!.evidence[0]!, /towards 10\.0\.0\.9: 2 connections holding 4,000 bytes.*zero-window probes/);
  assert.deepEqual(sendQueues(snapshot({ windowS: 0.5, stuckSendQueues: [q('10.0.0.9', 'retransmit')] })), []);
});
