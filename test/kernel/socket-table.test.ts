import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scanSocketTable, statesMask, type SocketSource } from '../../src/kernel/socket-table.ts';
import { toSocket } from '../../src/kernel/socket-row.ts';
import type { Socket } from '../../src/model/socket.ts';
import { stateCode } from '../../src/model/tcp-state.ts';
import { scenarioPerSuite } from '../helpers/scenarios.ts';

const ep = (e: { address: string; port: number }) => `${e.address}:${e.port}`;
// Everything both readers report the same way; the timer's remaining time moves between two reads.
const key = (s: Socket) =>
  [s.family, s.state, ep(s.local), ep(s.remote), s.rxQueue, s.txQueue, s.timer, s.retransmits, s.uid, s.inode].join(
    ' ',
  );

function read(source: Exclude<SocketSource, 'auto'>, ports: Set<number>): { keys: string[]; total: number } {
  const keys: string[] = [];
  const scan = scanSocketTable({ source }, (row) => {
    if (ports.has(row.localPort) || ports.has(row.remotePort)) keys.push(key(toSocket(row)));
  });
  assert.equal(scan.source, source);
  assert.equal(scan.malformed, 0);
  return { keys: keys.sort(), total: scan.rows };
}

for (const host of ['127.0.0.1', '::1']) {
  describe(`netlink and /proc on the same sockets (${host})`, () => {
    const suite = scenarioPerSuite(host);

    test('list the same sockets with the same states, addresses, queues, owners and inodes', () => {
      // A SYN retransmitted between two reads changes a row: compare when two /proc reads around
      // the netlink one agree.
      for (let attempt = 0; attempt < 10; attempt++) {
        const procBefore = read('proc', suite.ports);
        const netlink = read('netlink', suite.ports);
        const procAfter = read('proc', suite.ports);
        if (JSON.stringify(procBefore.keys) !== JSON.stringify(procAfter.keys)) continue;
        const c = suite.sc.counts;
        assert.ok(
          netlink.keys.length >= 4 + c.established * 2 + c.timeWait + c.closeWait * 2,
          `too few: ${netlink.keys.length}`,
        );
        assert.deepEqual(netlink.keys, procBefore.keys);
        assert.ok(
          netlink.keys.some((k) => k.includes(' LISTEN ')) && netlink.keys.some((k) => k.includes(' TIME_WAIT ')),
        );
        return;
      }
      assert.fail('the table never held still for a comparison');
    });
  });
}

test('the state mask is applied in the kernel: a LISTEN-only dump returns listeners only', () => {
  const states = new Set<number>();
  const scan = scanSocketTable({ source: 'netlink', states: ['LISTEN'] }, (row) => states.add(row.state));
  assert.equal(scan.source, 'netlink');
  assert.ok(scan.rows > 0);
  assert.deepEqual([...states], [stateCode('LISTEN')]);
});

test('asking for SYN_RECV also asks for request sockets (NEW_SYN_RECV), which the kernel reports as SYN_RECV', () => {
  const mask = statesMask(['SYN_RECV']);
  assert.equal(mask, (1 << stateCode('SYN_RECV')) | (1 << stateCode('NEW_SYN_RECV')));
});

test('every state means what ss -a and /proc list: not the bound-but-inactive sockets, whose dump walks the whole bind table', () => {
  const all = statesMask(undefined);
  assert.equal(all & (1 << stateCode('BOUND_INACTIVE')), 0);
  for (const s of ['ESTABLISHED', 'TIME_WAIT', 'LISTEN', 'CLOSE_WAIT', 'NEW_SYN_RECV'] as const)
    assert.notEqual(all & (1 << stateCode(s)), 0, s);
  // Asked for by name, they are dumped.
  assert.notEqual(statesMask(['BOUND_INACTIVE']) & (1 << stateCode('BOUND_INACTIVE')), 0);
});

test('tcp_info is asked for only when wanted', () => {
  let withInfo = 0;
  scanSocketTable({ source: 'netlink', states: ['LISTEN'] }, (row) => (withInfo += row.hasInfo ? 1 : 0));
  assert.equal(withInfo, 0);
  let rows = 0;
  scanSocketTable({ source: 'netlink', states: ['LISTEN'], info: true }, (row) => {
    rows++;
    withInfo += row.hasInfo ? 1 : 0;
  });
  assert.equal(withInfo, rows);
});

test('both sources filter by state: the same listeners, from the kernel or from /proc', () => {
  const listeners = (source: 'netlink' | 'proc') => {
    const ports: number[] = [];
    const scan = scanSocketTable({ source, states: ['LISTEN'] }, (row) => {
      assert.equal(row.state, stateCode('LISTEN'));
      ports.push(row.localPort);
    });
    assert.equal(scan.rows, ports.length);
    return ports.sort((a, b) => a - b);
  };
  // Other programs open and close listeners: compare when two /proc reads around netlink agree.
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = listeners('proc');
    const netlink = listeners('netlink');
    if (JSON.stringify(before) !== JSON.stringify(listeners('proc'))) continue;
    assert.deepEqual(netlink, before);
    return;
  }
  assert.fail('the listeners never held still');
});
