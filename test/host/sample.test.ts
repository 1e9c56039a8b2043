import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { newRow, scanTcpLines, type TcpRow } from '../../src/kernel/proc-net-tcp.ts';
import { TCP_STATES } from '../../src/model/tcp-state.ts';
import { SYSCTL_CATALOG } from '../../src/analyze/sysctl-catalog.ts';
import { diagnose } from '../../src/analyze/doctor/index.ts';
import { takeHostSample, type HostSample } from '../../src/host/sample.ts';
import { createSampler } from '../../src/host/sampler.ts';
import { doctorSnapshotOf } from '../../src/host/doctor-snapshot.ts';
import { formatPeerKey, peerKey, topOfMap, topPorts } from '../../src/host/top-list.ts';
import { createScenario, type Scenario } from '../helpers/scenarios.ts';
import { ssSockets } from '../helpers/ss.ts';

let scenario: Scenario;
before(async () => {
  scenario = await createScenario('127.0.0.1', { established: 4, timeWait: 12, closeWait: 2, queued: 5, backlog: 2 });
});
after(async () => {
  await scenario?.close();
});

/** One row of a /proc/net/tcp{,6} line, scanned by the real scanner. */
function row(line: string, family: 'ipv4' | 'ipv6'): TcpRow {
  const buf = Buffer.from(`${line}\n`, 'latin1');
  let copy: TcpRow | undefined;
  scanTcpLines(buf, 0, buf.length, newRow(family), (r) => (copy = { ...r }), true);
  assert.ok(copy, line);
  return copy;
}

test('a peer reached over IPv4 and as IPv4-mapped IPv6 has one key; a real IPv6 peer keeps its own', () => {
  // 127.0.0.1:8080 → 127.0.0.1:38000 in both tables, and ::1.
  const v4 = row(
    '   0: 0100007F:1F90 0100007F:9470 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1',
    'ipv4',
  );
  const mapped = row(
    '   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9470 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
    'ipv6',
  );
  const v6 = row(
    '   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:9470 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1',
    'ipv6',
  );
  assert.equal(peerKey(v4), peerKey(mapped));
  assert.equal(formatPeerKey(peerKey(v4)), '127.0.0.1');
  assert.equal(formatPeerKey(peerKey(mapped)), '127.0.0.1');
  assert.equal(formatPeerKey(peerKey(v6)), '::1');
});

test('a netlink row (address bytes in network order) has the same peer key as the /proc row of that peer', () => {
  const procRow = (hex: string) =>
    row(
      `   0: ${hex}:1F90 ${hex}:9470 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1`,
      'ipv6',
    );
  const netlinkRow = (bytes: number[]) => {
    const r = newRow('ipv6');
    r.buf = Uint8Array.from([...new Array(16).fill(0), ...bytes]);
    r.addressHex = false;
    r.remoteAt = 16;
    return r;
  };
  const cases: [number[], string, string][] = [
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '00000000000000000000000001000000', '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], '0000000000000000FFFF00000100007F', '127.0.0.1'],
    [
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0x0e],
      'B80D012000000000000000000E00CDAB',
      '2001:db8::abcd:e',
    ],
  ];
  for (const [bytes, hex, text] of cases) {
    assert.equal(peerKey(netlinkRow(bytes)), peerKey(procRow(hex)), text);
    assert.equal(formatPeerKey(peerKey(netlinkRow(bytes))), text);
  }
});

test('top-N lists keep the biggest, biggest first, and their "other" makes the total', () => {
  const counts = new Uint32Array(65536);
  counts[443] = 50;
  counts[80] = 50;
  counts[8080] = 7;
  counts[9000] = 3;
  const top = topPorts(counts, 2);
  assert.deepEqual(top.top, [
    { key: 80, count: 50 },
    { key: 443, count: 50 },
  ]);
  assert.equal(top.other, 10);
  assert.equal(top.total, 110);
  const peers = topOfMap(
    new Map<number, number>([
      [1, 5],
      [2, 9],
      [3, 1],
    ]),
    1,
    (k) => `peer${k}`,
  );
  assert.deepEqual(peers, { top: [{ key: 'peer2', count: 9 }], other: 6, total: 15 });
});

function checkShape(s: HostSample): void {
  assert.deepEqual(Object.keys(s.sockets.byState), [...TCP_STATES], 'every state, in the kernel order');
  let total = 0;
  for (const f of ['ipv4', 'ipv6'] as const) {
    let familyTotal = 0;
    for (const st of TCP_STATES) familyTotal += s.sockets.byFamilyState[f][st];
    assert.equal(familyTotal, s.sockets.byFamily[f], f);
    total += familyTotal;
  }
  assert.equal(total, s.sockets.total);
  for (const [state, b] of [
    ['TIME_WAIT', s.timeWait],
    ['ESTABLISHED', s.established],
  ] as const) {
    for (const list of [b.byRemotePort, b.byLocalPort, b.byPeer]) {
      assert.equal(list.total, s.sockets.byState[state], `${state} breakdown total`);
      assert.equal(list.top.reduce((n, e) => n + e.count, 0) + list.other, list.total);
      assert.ok(list.top.length <= s.topN);
    }
  }
  const e = s.ephemeral;
  assert.ok(e);
  assert.equal(e.destinations.reduce((n, d) => n + d.ports, 0) + e.otherSockets, e.totalSockets);
  assert.ok(e.portsInUse <= e.usable && e.portsInUse <= e.totalSockets);
  assert.deepEqual(
    Object.keys(s.sysctls),
    SYSCTL_CATALOG.map((k) => k.name),
  );
  for (const key of ['TcpExt.ListenOverflows', 'Tcp.CurrEstab', 'Tcp.RetransSegs', 'sockstat.TCP.tw'])
    assert.equal(typeof s.counters[key], 'number', key);
}

test('a sample counts every state and family, and each breakdown adds up to its state', async () => {
  const s = await takeHostSample({ topN: 5 });
  checkShape(s);
  assert.equal(s.topN, 5);
  assert.ok(s.sockets.byState.TIME_WAIT >= scenario.counts.timeWait);
});

test("a sample's listener and per-port counts agree with ss for the test's own sockets", async () => {
  const s = await takeHostSample({ topN: 1000 });
  const ss = ssSockets();
  const port = (e: string) => Number(e.slice(e.lastIndexOf(':') + 1));
  const listener = s.listeners.find((l) => l.local.port === scenario.ports.fullQueue);
  const ssListener = ss.find((x) => x.state === 'LISTEN' && port(x.local) === scenario.ports.fullQueue);
  assert.ok(listener && ssListener);
  assert.equal(listener.queue, ssListener.recvQ);
  assert.equal(listener.maxQueue, ssListener.sendQ);
  assert.equal(listener.process, 'python3');
  const tw = s.timeWait.byRemotePort.top.find((e) => e.key === scenario.ports.timeWait)?.count;
  assert.equal(tw, ss.filter((x) => x.state === 'TIME_WAIT' && port(x.peer) === scenario.ports.timeWait).length);
  const closeWait = s.closing.closeWait.find((p) => p.port === scenario.ports.closeWait);
  assert.equal(closeWait?.count, scenario.counts.closeWait);
  assert.equal(closeWait?.process, 'node', 'CLOSE_WAIT carries the owner of its listening port');
});

test('concurrent get()s share one sample; a fresh one after minIntervalMs; close() stops it', async () => {
  const sampler = createSampler({ topN: 3, minIntervalMs: 200, findingsIntervalMs: 0 });
  const [a, b, c] = await Promise.all([sampler.get(), sampler.get(), sampler.get()]);
  assert.ok(a === b && b === c, 'one sample for three callers');
  assert.equal(await sampler.get(), a, 'still young: handed out again');
  assert.equal(sampler.latest(), a);
  await new Promise((r) => setTimeout(r, 250));
  const d = await sampler.get();
  assert.notEqual(d, a);
  assert.ok(d.takenAt >= a.takenAt);
  checkShape(d);
  assert.equal(d.findings, undefined, 'findings off');
  sampler.close();
  await assert.rejects(sampler.get());
});

test("a sampler's findings come from counter deltas between samples and ride on later samples", async () => {
  const sampler = createSampler({ topN: 3, findingsIntervalMs: 100 });
  try {
    await new Promise((r) => setTimeout(r, 150));
    await sampler.get(); // the window is due: findings are computed right after this one
    // They take as long as the walk of every process's descriptors takes on this machine: later
    // samples carry them once it ends (bounded, generously, so a busy machine is not a failure).
    let s = await sampler.get();
    for (let i = 0; i < 600 && !s.findings; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = await sampler.get();
    }
    assert.ok(s.findings, 'findings on a later sample');
    assert.ok(s.findings.windowS >= 0.1, `window ${s.findings.windowS} s`);
    // The scenario's listener (backlog 2, never accepting) is full.
    assert.ok(
      s.findings.findings.some((f) => f.id === 'accept-queue-overflow'),
      s.findings.findings.map((f) => f.id).join(', '),
    );
  } finally {
    sampler.close();
  }
});

test("doctor's snapshot from two samples carries the counters' deltas over the window", async () => {
  const after = await takeHostSample({ topN: 3 });
  const counters = {
    ...after.counters,
    'TcpExt.ListenOverflows': (after.counters['TcpExt.ListenOverflows'] ?? 0) - 40,
  };
  const snapshot = doctorSnapshotOf({ at: after.takenAt - 5000, counters }, after, []);
  assert.equal(snapshot.deltas['TcpExt.ListenOverflows'], 40);
  assert.equal(snapshot.durationS, 5);
  const overflow = diagnose(snapshot).find((f) => f.id === 'accept-queue-overflow');
  assert.equal(overflow?.severity, 'critical', 'overflows in the window are critical');
  assert.match(overflow.evidence[0]!, /ListenOverflows \+40, .* in 5 s/);
});

test("netlink and /proc give the same sample of the test's sockets: peers, CLOSE_WAIT with owners, listeners; every TIME_WAIT has a side", async () => {
  const viaNetlink = await takeHostSample({ topN: 1000, source: 'netlink' });
  const viaProc = await takeHostSample({ topN: 1000, source: 'proc' });
  assert.equal(viaNetlink.source, 'netlink');
  assert.equal(viaProc.source, 'proc');
  // The scenario's TIME_WAIT may have expired by now (60 s): each source must give every TIME_WAIT a side.
  for (const s of [viaNetlink, viaProc])
    assert.equal(s.closing.timeWaitServerTotal + s.closing.timeWaitClientTotal, s.sockets.byState.TIME_WAIT, s.source);
  const peer = (s: HostSample) => s.established.byPeer.top.find((e) => e.key === '127.0.0.1')?.count ?? 0;
  assert.ok(peer(viaNetlink) > 0 && peer(viaProc) > 0, 'the peer 127.0.0.1 formatted alike from both sources');
  const cw = (s: HostSample) => s.closing.closeWait.find((p) => p.port === scenario.ports.closeWait);
  assert.deepEqual(cw(viaNetlink), cw(viaProc));
  const listener = (s: HostSample) => s.listeners.find((l) => l.local.port === scenario.ports.fullQueue);
  assert.equal(
    listener(viaNetlink)?.maxQueue,
    listener(viaProc)?.maxQueue,
    'the maximum from netlink, and from ss after /proc',
  );
  assert.equal(listener(viaNetlink)?.process, 'python3');
});
