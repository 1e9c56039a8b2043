import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose } from '../../src/analyze/doctor/index.ts';
import type { DoctorSnapshot } from '../../src/analyze/doctor/snapshot.ts';
import { cleanSnapshot } from './snapshot-fixture.ts';
import { QUEUE_FILL_WARNING } from '../../src/analyze/doctor/accept-queue.ts';
import { TIME_WAIT_NOTABLE } from '../../src/analyze/doctor/time-wait.ts';
import { PORT_SHARE_WARNING, PORT_SHARE_CRITICAL } from '../../src/analyze/doctor/ports.ts';
import { CLOSE_WAIT_WARNING } from '../../src/analyze/doctor/close-wait.ts';

const clean = cleanSnapshot;

const ids = (s: DoctorSnapshot) => diagnose(s).map((f) => `${f.id}:${f.severity}`);

test('a clean host has no findings', () => {
  assert.deepEqual(ids(clean()), []);
});

test('accept-queue overflow: critical when ListenOverflows moves, warning when a queue is nearly full, silent just below', () => {
  const s = clean();
  s.deltas['TcpExt.ListenOverflows'] = 12;
  s.deltas['TcpExt.ListenDrops'] = 12;
  const f = diagnose(s)[0]!;
  assert.equal(f.id, 'accept-queue-overflow');
  assert.equal(f.severity, 'critical');
  assert.match(f.evidence[0]!, /ListenOverflows \+12, ListenDrops \+12 in 3 s/);
  const listener = (fill: number) => ({
    family: 'ipv4' as const,
    local: { address: '0.0.0.0', port: 8080 },
    queue: Math.round(fill * 100),
    maxQueue: 100,
    fill,
    inode: 1,
    uid: 0,
    pid: 42,
    process: 'node',
  });
  const nearly = clean();
  nearly.sockets.listeners = [listener(QUEUE_FILL_WARNING)];
  assert.deepEqual(ids(nearly), ['accept-queue-overflow:warning']);
  assert.match(diagnose(nearly)[0]!.evidence.join('\n'), /0.0.0.0:8080 \(node\/42\) queue 80\/100/);
  const below = clean();
  below.sockets.listeners = [listener(QUEUE_FILL_WARNING - 0.01)];
  assert.deepEqual(ids(below), []);
});

test('backlog settings: somaxconn below 4096 is reported, 4096 is not', () => {
  const s = clean();
  s.sysctls['net.core.somaxconn'] = '128';
  assert.deepEqual(ids(s), ['backlog-settings:info']);
  s.deltas['TcpExt.ListenOverflows'] = 1;
  assert.deepEqual(ids(s), ['accept-queue-overflow:critical', 'backlog-settings:warning']);
});

test('TIME_WAIT: silent below the notable count, names the side that closes first above it', () => {
  const s = clean();
  s.sockets.byState.TIME_WAIT = TIME_WAIT_NOTABLE - 1;
  assert.deepEqual(ids(s), []);
  s.sockets.byState.TIME_WAIT = 6000 + TIME_WAIT_NOTABLE;
  s.sockets.timeWaitServerSide = [{ port: 8080, count: 7000, process: 'node', pid: 7 }];
  s.sockets.timeWaitServerTotal = 7000;
  const [f] = diagnose(s);
  assert.equal(f!.id, 'time-wait-pile-up');
  assert.match(f!.title, /the server side closes first/);
  assert.match(f!.evidence.join('\n'), /local port 8080 \(node\/7\): 7,000/);
  assert.equal(diagnose(s)[0]!.severity, 'info', 'on a listening port TIME_WAIT costs memory only');
  s.sockets.timeWaitServerSide = [];
  s.sockets.timeWaitServerTotal = 0;
  s.sockets.timeWaitClientSide = [{ port: 443, count: 7000 }];
  s.sockets.timeWaitClientTotal = 7000;
  assert.equal(diagnose(s)[0]!.severity, 'warning', 'on the connecting side it holds ports');
  assert.match(diagnose(s)[0]!.title, /this host closes its outgoing connections first/);
  s.deltas['TcpExt.TCPTimeWaitOverflow'] = 3;
  assert.equal(diagnose(s)[0]!.severity, 'critical');
});

test('tcp_fin_timeout lowered while TIME_WAIT piles up: a hint that it does not shorten TIME_WAIT', () => {
  const s = clean();
  s.sysctls['net.ipv4.tcp_fin_timeout'] = '15';
  s.sockets.byState.TIME_WAIT = TIME_WAIT_NOTABLE;
  s.sockets.timeWaitServerSide = [{ port: 80, count: TIME_WAIT_NOTABLE }];
  s.sockets.timeWaitServerTotal = TIME_WAIT_NOTABLE;
  assert.ok(ids(s).includes('fin-timeout-misread:info'));
  s.sysctls['net.ipv4.tcp_fin_timeout'] = '60';
  assert.ok(!ids(s).includes('fin-timeout-misread:info'));
});

test('ephemeral ports: warning at half the range towards one destination, critical at 80%', () => {
  const s = clean();
  const dest = (share: number) => ({
    remote: { address: '10.0.0.5', port: 5432 },
    ports: Math.round(share * 28232),
    timeWait: 100,
    share,
  });
  s.sockets.ephemeral!.destinations = [dest(PORT_SHARE_WARNING - 0.01)];
  assert.deepEqual(ids(s), []);
  s.sockets.ephemeral!.destinations = [dest(PORT_SHARE_WARNING)];
  assert.deepEqual(ids(s), ['ephemeral-port-exhaustion:warning']);
  s.sockets.ephemeral!.destinations = [dest(PORT_SHARE_CRITICAL)];
  const [f] = diagnose(s);
  assert.equal(f!.severity, 'critical');
  assert.match(f!.title, /towards 10.0.0.5:5432/);
  assert.ok(f!.fix.some((x) => /tcp_tw_reuse=1/.test(x)));
});

test('CLOSE_WAIT: a leak is named by port and process at the threshold, not below', () => {
  const s = clean();
  s.sockets.byState.CLOSE_WAIT = CLOSE_WAIT_WARNING;
  s.sockets.closeWait = [{ port: 3000, count: CLOSE_WAIT_WARNING - 1 }];
  assert.deepEqual(ids(s), []);
  s.sockets.closeWait = [{ port: 3000, count: CLOSE_WAIT_WARNING, process: 'api', pid: 9 }];
  const [f] = diagnose(s);
  assert.equal(f!.id, 'close-wait-accumulation');
  assert.match(f!.evidence[0]!, /local port 3000 \(api\/9\): 50 in CLOSE_WAIT/);
});

test('findings come worst first', () => {
  const s = clean();
  s.sysctls['net.core.somaxconn'] = '128';
  s.sockets.ephemeral!.destinations = [
    { remote: { address: '10.0.0.5', port: 80 }, ports: 27000, timeWait: 0, share: 27000 / 28232 },
  ];
  assert.deepEqual(ids(s), ['ephemeral-port-exhaustion:critical', 'backlog-settings:info']);
});

test('SYN queue: drops are critical, cookies a warning, syncookies off a warning with the backlog to raise', () => {
  const s = clean();
  s.deltas['TcpExt.TCPReqQFullDoCookies'] = 5;
  assert.deepEqual(ids(s), ['syn-queue-cookies:warning']);
  s.deltas['TcpExt.TCPReqQFullDrop'] = 2;
  assert.deepEqual(ids(s), ['syn-queue-drops:critical']);
  const off = clean();
  off.sysctls['net.ipv4.tcp_syncookies'] = '0';
  off.sysctls['net.ipv4.tcp_max_syn_backlog'] = '1024';
  const [f] = diagnose(off);
  assert.equal(f!.id, 'syncookies-disabled');
  assert.ok(f!.fix.some((x) => x.includes('tcp_max_syn_backlog=4096')));
});

test('resets: silent below 10 established resets per second, a warning at it, critical on memory aborts', () => {
  const s = clean();
  s.deltas['Tcp.EstabResets'] = 29; // 3 s window: 9.7/s
  assert.deepEqual(ids(s), []);
  s.deltas['Tcp.EstabResets'] = 30;
  s.deltas['TcpExt.TCPAbortOnData'] = 12;
  const [f] = diagnose(s);
  assert.equal(`${f!.id}:${f!.severity}`, 'connection-resets:warning');
  assert.match(f!.evidence.join('\n'), /TCPAbortOnData \+12: data arrived after the application closed/);
  s.deltas['TcpExt.TCPAbortOnMemory'] = 1;
  assert.equal(diagnose(s)[0]!.severity, 'critical');
});

test('retransmissions: a ratio only over enough segments; 1% warns, 5% is critical; SYN retransmits are noted', () => {
  const s = clean();
  s.deltas['Tcp.OutSegs'] = 999;
  s.deltas['Tcp.RetransSegs'] = 100;
  assert.deepEqual(ids(s), []);
  s.deltas['Tcp.OutSegs'] = 10_000;
  s.deltas['Tcp.RetransSegs'] = 99;
  assert.deepEqual(ids(s), []);
  s.deltas['Tcp.RetransSegs'] = 100;
  assert.deepEqual(ids(s), ['retransmission-ratio:warning']);
  s.deltas['Tcp.RetransSegs'] = 500;
  s.deltas['TcpExt.TCPSynRetrans'] = 3;
  assert.deepEqual(ids(s), ['retransmission-ratio:critical', 'syn-retransmits:info']);
});

test('orphans against tcp_max_orphans, keepalive against middleboxes, descriptors against nofile', () => {
  const s = clean();
  s.sysctls['net.ipv4.tcp_max_orphans'] = '1000';
  s.counters['sockstat.TCP.orphan'] = 499;
  s.sysctls['net.ipv4.tcp_keepalive_time'] = '300';
  assert.deepEqual(ids(s), []);
  s.counters['sockstat.TCP.orphan'] = 800;
  s.sysctls['net.ipv4.tcp_keepalive_time'] = '7200';
  assert.deepEqual(ids(s), ['orphan-sockets:critical', 'keepalive-vs-middleboxes:info']);
  const n = clean();
  n.processes = [{ pid: 5, command: 'api', fds: 799, sockets: 700, softLimit: 1000 }];
  assert.deepEqual(ids(n), []);
  n.processes = [{ pid: 5, command: 'api', fds: 960, sockets: 900, softLimit: 1000 }];
  const [f] = diagnose(n);
  assert.equal(`${f!.id}:${f!.severity}`, 'nofile-limit:critical');
  assert.match(f!.title, /api\/5 uses 960 of its 1,000 file descriptors/);
});

test('--trace: ListenOverflows divided into drops seen with reasons and SYNs refused unseen, with owners as evidence', () => {
  const s = clean();
  s.deltas['TcpExt.ListenOverflows'] = 134;
  s.trace = {
    durationS: 3,
    lostEvents: 0,
    resetsSent: [],
    drops: [
      {
        reason: 'TCP_LISTEN_OVERFLOW',
        address: '127.0.0.1',
        port: 8080,
        pid: 123,
        process: 'python3',
        where: 'tcp_v4_rcv',
        count: 8,
      },
      { reason: 'NO_SOCKET', address: '127.0.0.1', port: 8080, where: 'cookie_v4_check', count: 6 },
      { reason: 'NO_SOCKET', address: '127.0.0.1', port: 9999, where: 'tcp_v4_rcv', count: 3 },
    ],
  };
  const f = diagnose(s).find((x) => x.id === 'accept-queue-overflow')!;
  assert.ok(
    f.evidence.includes(
      '134 ListenOverflows: 14 drops seen with reasons (8 TCP_LISTEN_OVERFLOW, 6 NO_SOCKET at cookie_v*_check (SYN-cookie connections)), 120 SYNs refused at the full queue (no tracepoint)',
    ),
    f.evidence.join('\n'),
  );
  assert.ok(
    f.evidence.includes('TCP_LISTEN_OVERFLOW ×8 on 127.0.0.1:8080 (python3/123) at tcp_v4_rcv'),
    f.evidence.join('\n'),
  );
  // The closed port's drop is no overflow: it goes to the drops finding, with its meaning and counter.
  const other = diagnose(s).find((x) => x.id === 'drops-with-reasons')!;
  assert.deepEqual(other.evidence, [
    'NO_SOCKET ×3 on 127.0.0.1:9999 at tcp_v4_rcv: no socket for this segment: a closed port (answered with a reset), or a final ACK whose SYN cookie found a full accept queue (Tcp.OutRsts)',
  ]);
  // Without --trace nothing of this appears.
  delete s.trace;
  assert.ok(
    !diagnose(s)
      .find((x) => x.id === 'accept-queue-overflow')!
      .evidence.some((e) => e.includes('drops seen')),
  );
});

test('--trace: resets by TCP_ABORT_ON_CLOSE are a finding of their own, and reset reasons join the resets finding', () => {
  const s = clean();
  s.deltas['Tcp.EstabResets'] = 300;
  s.deltas['Tcp.OutRsts'] = 400;
  s.trace = {
    durationS: 3,
    lostEvents: 0,
    drops: [],
    resetsSent: [
      { reason: 'NO_SOCKET', address: '127.0.0.1', port: 9999, count: 100 },
      { reason: 'TCP_ABORT_ON_CLOSE', address: '127.0.0.1', port: 8080, pid: 42, process: 'node', count: 300 },
    ],
  };
  const all = diagnose(s);
  const abort = all.find((x) => x.id === 'abort-on-close')!;
  assert.equal(abort.severity, 'warning');
  assert.match(abort.title, /^300 connections reset because their application closed them with data unread/);
  assert.deepEqual(abort.evidence, ['TCP_ABORT_ON_CLOSE ×300 from 127.0.0.1:8080 (node/42)']);
  const resets = all.find((x) => x.id === 'connection-resets')!;
  assert.ok(
    resets.evidence.includes(
      'NO_SOCKET ×100 from 127.0.0.1:9999: nothing listens there (or the connection is long gone)',
    ),
    resets.evidence.join('\n'),
  );
});
