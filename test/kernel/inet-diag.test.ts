import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  buildInetDiagRequest,
  extensionBits,
  newBatch,
  parseInetDiagMessages,
  ALL_STATES_MASK,
} from '../../src/kernel/inet-diag.ts';
import { newRow, toSocket, type TcpRow } from '../../src/kernel/socket-row.ts';
import { newTcpInfoRecord, parseTcpInfo, toTcpInfo } from '../../src/kernel/tcp-info.ts';
import type { Socket } from '../../src/model/socket.ts';
import type { Family } from '../../src/model/socket.ts';

const fixture = (name: string) => new URL(`../fixtures/netlink/${name}`, import.meta.url);

function parseFixture(family: Family, withInfo = true) {
  const buf = readFileSync(fixture(`dump-${family}.bin`));
  const meta = JSON.parse(readFileSync(fixture(`dump-${family}.json`), 'utf8')) as {
    port: number;
    clientPort: number;
    host: string;
  };
  const row = newRow(family);
  if (withInfo) row.info = newTcpInfoRecord();
  const sockets: Socket[] = [];
  const batch = newBatch();
  parseInetDiagMessages(buf, buf.length, row, (r: TcpRow) => sockets.push(toSocket(r)), batch);
  return { sockets, batch, meta, buf };
}

describe('parseInetDiagMessages on a captured dump (a listener with backlog 7, one connection, 100 bytes each way)', () => {
  for (const family of ['ipv4', 'ipv6'] as const) {
    test(`${family}: the listener, both ends of the connection, then the end of the dump`, () => {
      const { sockets, batch, meta } = parseFixture(family);
      assert.deepEqual({ ...batch }, { rows: 3, done: true, errno: 0, malformed: 0, interrupted: false });
      const [listener, ...conns] = sockets;
      assert.equal(listener!.state, 'LISTEN');
      assert.equal(listener!.local.address, meta.host);
      assert.equal(listener!.local.port, meta.port);
      assert.equal(listener!.remote.port, 0);
      assert.equal(listener!.txQueue, 0, 'a listener has no send queue; netlink puts the maximum there');
      assert.ok(listener!.inode > 0);
      const client = conns.find((s) => s.local.port === meta.clientPort)!;
      const server = conns.find((s) => s.local.port === meta.port)!;
      for (const s of [client, server]) {
        assert.equal(s.state, 'ESTABLISHED');
        assert.equal(s.family, family);
        assert.equal(s.rxQueue, 0);
        assert.equal(s.txQueue, 0);
        assert.ok(s.inode > 0);
        const info = s.info!;
        assert.equal(info.bytesReceived, 100, 'the 100 bytes the other end wrote');
        assert.equal(info.bytesSent, 100);
        // The client's count includes its SYN, acknowledged by the SYN-ACK; the server's
        // handshake completes without counting its SYN-ACK.
        assert.equal(info.bytesAcked, s === client ? 101 : 100);
        assert.equal(info.totalRetrans, 0);
        assert.equal(info.lost, 0);
        assert.ok(info.rttMs! > 0 && info.rttMs! < 100, `rtt ${info.rttMs}`);
        assert.ok(info.cwnd! >= 10, `cwnd ${info.cwnd}`);
        assert.equal(info.ssthresh, null, 'no loss yet: the kernel reports an infinite threshold');
        assert.equal(info.congestion, 'bbr', 'the congestion control of the host that captured it');
        assert.ok(info.skmem!.rcvBuf! > 0 && info.skmem!.sndBuf! > 0);
        assert.equal(info.skmem!.drops, 0);
      }
      assert.deepEqual([client.remote.address, client.remote.port], [meta.host, meta.port]);
    });
  }

  test('the listener carries its accept-queue maximum (the listen backlog)', () => {
    for (const family of ['ipv4', 'ipv6'] as const) {
      const { buf } = parseFixture(family);
      const row = newRow(family);
      const maxima: number[] = [];
      parseInetDiagMessages(buf, buf.length, row, (r) => maxima.push(r.acceptQueueMax), newBatch());
      assert.deepEqual(maxima, [7, -1, -1]);
    }
  });

  test('without the info extension the rows carry no tcp_info', () => {
    const { sockets } = parseFixture('ipv4', false);
    assert.equal(sockets.length, 3);
    for (const s of sockets) assert.equal(s.info, undefined);
  });

  test('a message cut off by the end of the datagram is counted malformed, and nothing after it is read', () => {
    const { buf } = parseFixture('ipv4');
    const first = buf.readUInt32LE(0);
    const cut = buf.subarray(0, first + 40);
    const batch = newBatch();
    const seen: number[] = [];
    parseInetDiagMessages(cut, cut.length, newRow('ipv4'), (r) => seen.push(r.state), batch);
    assert.deepEqual(seen, [10]);
    assert.equal(batch.malformed, 1);
    assert.equal(batch.done, false);
  });

  test('NLMSG_ERROR ends the dump with its errno', () => {
    const err = Buffer.alloc(36);
    err.writeUInt32LE(36, 0);
    err.writeUInt16LE(2, 4); // NLMSG_ERROR
    err.writeInt32LE(-2, 16); // -ENOENT
    const batch = newBatch();
    parseInetDiagMessages(err, err.length, newRow('ipv4'), () => assert.fail('no socket'), batch);
    assert.equal(batch.done, true);
    assert.equal(batch.errno, 2);
  });

  test('a message shorter than its header claims is malformed, not a crash', () => {
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(8, 0);
    const batch = newBatch();
    parseInetDiagMessages(bad, bad.length, newRow('ipv4'), () => assert.fail('no socket'), batch);
    assert.equal(batch.malformed, 1);
  });
});

test('buildInetDiagRequest lays out nlmsghdr and inet_diag_req_v2 as the kernel reads them', () => {
  const b = buildInetDiagRequest('ipv6', ALL_STATES_MASK, extensionBits({ info: true, memory: true }), 42);
  assert.equal(b.length, 72);
  assert.equal(b.readUInt32LE(0), 72);
  assert.equal(b.readUInt16LE(4), 20, 'SOCK_DIAG_BY_FAMILY');
  assert.equal(b.readUInt16LE(6), 0x301, 'NLM_F_REQUEST | NLM_F_DUMP');
  assert.equal(b.readUInt32LE(8), 42);
  assert.equal(b[16], 10, 'AF_INET6');
  assert.equal(b[17], 6, 'IPPROTO_TCP');
  assert.equal(b[18], (1 << 1) | (1 << 3) | (1 << 6), 'INET_DIAG_INFO, CONG and SKMEMINFO bits');
  assert.equal(b.readUInt32LE(20), ALL_STATES_MASK);
  assert.equal(extensionBits({}), 0, 'nothing asked, nothing attached');
});

test("a tcp_info shorter than this kernel's (an older kernel) leaves the missing fields null", () => {
  const { buf } = parseFixture('ipv4');
  // Find the first INET_DIAG_INFO attribute of the second message (a connection).
  const second = buf.readUInt32LE(0);
  let at = second + 16 + 72;
  while (buf.readUInt16LE(at + 2) !== 2) at += (buf.readUInt16LE(at) + 3) & ~3;
  const rec = newTcpInfoRecord();
  parseTcpInfo(buf, at + 4, 104, rec); // a 3.x-era struct: up to tcpi_total_retrans
  const info = toTcpInfo(rec);
  assert.equal(info.totalRetrans, 0);
  assert.ok(info.rttMs! > 0);
  assert.equal(info.bytesAcked, null);
  assert.equal(info.deliveryRateBps, null);
  assert.equal(info.busyMs, null);
});
