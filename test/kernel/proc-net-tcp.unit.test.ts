import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAddress, parseProcNetTcp, readProcNetTcp, toSocket } from '../../src/kernel/proc-net-tcp.ts';
import type { Socket } from '../../src/model/socket.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/proc-net/${name}`, import.meta.url));

test('parses every TCP state with addresses, queues, timers, uid and inode', () => {
  const { sockets, malformed } = parseProcNetTcp(fixture('tcp-every-state'), 'ipv4');
  assert.equal(malformed, 0);
  assert.deepEqual(
    sockets.map((s) => s.state),
    [
      'LISTEN',
      'LISTEN',
      'ESTABLISHED',
      'SYN_SENT',
      'SYN_RECV',
      'FIN_WAIT1',
      'FIN_WAIT2',
      'TIME_WAIT',
      'CLOSE',
      'CLOSE_WAIT',
      'LAST_ACK',
      'CLOSING',
      'NEW_SYN_RECV',
    ],
  );
  const listen = sockets[0]!;
  assert.deepEqual(listen.local, { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(listen.remote, { address: '0.0.0.0', port: 0 });
  assert.equal(listen.rxQueue, 3, 'a LISTEN socket rx_queue is its accept queue');
  assert.equal(listen.uid, 1000);
  assert.equal(listen.inode, 40001);
  const estab = sockets[2]!;
  assert.deepEqual(estab.local, { address: '10.1.2.3', port: 43210 });
  assert.deepEqual(estab.remote, { address: '93.184.216.34', port: 443 });
  assert.equal(estab.txQueue, 120);
  assert.equal(estab.rxQueue, 7);
  assert.equal(estab.timer, 'keepalive');
  assert.equal(estab.timerExpiresMs, 0x1c8 * 10);
  const synSent = sockets[3]!;
  assert.equal(synSent.timer, 'retransmit');
  assert.equal(synSent.retransmits, 2);
  const tw = sockets.find((s) => s.state === 'TIME_WAIT')!;
  assert.equal(tw.timer, 'time-wait');
  assert.equal(tw.timerExpiresMs, 60_000);
  assert.equal(tw.inode, 0, 'TIME_WAIT sockets have no inode');
});

test('decodes IPv6 words in host byte order and shows IPv4-mapped addresses as IPv4 with family ipv6', () => {
  const { sockets } = parseProcNetTcp(fixture('tcp6-mixed'), 'ipv6');
  const view = sockets.map((s: Socket) => [
    s.family,
    s.state,
    s.local.address,
    s.local.port,
    s.remote.address,
    s.remote.port,
  ]);
  assert.deepEqual(view, [
    ['ipv6', 'LISTEN', '::', 80, '::', 0],
    ['ipv6', 'ESTABLISHED', '::1', 8443, '::1', 40000],
    ['ipv6', 'TIME_WAIT', '2001:db8::1', 443, '2001:db8:0:1::2', 51234],
    ['ipv6', 'ESTABLISHED', '127.0.0.1', 80, '127.0.0.1', 41000],
    ['ipv6', 'CLOSE_WAIT', 'fe80::1:0:0:1', 9000, '2001:0:0:1::1', 9001],
  ]);
});

test('a header-only table has no sockets and nothing malformed', () => {
  assert.deepEqual(parseProcNetTcp(fixture('tcp-header-only'), 'ipv4'), { sockets: [], malformed: 0 });
  assert.deepEqual(parseProcNetTcp('', 'ipv4'), { sockets: [], malformed: 0 });
});

test('extra fields from a newer kernel are ignored', () => {
  const { sockets, malformed } = parseProcNetTcp(fixture('tcp-extra-fields'), 'ipv4');
  assert.equal(malformed, 0);
  assert.deepEqual(
    sockets.map((s) => [s.state, s.inode]),
    [
      ['LISTEN', 1],
      ['ESTABLISHED', 2],
    ],
  );
});

test('a line cut off by a truncated read is counted as malformed, the rest is kept', () => {
  const { sockets, malformed } = parseProcNetTcp(fixture('tcp-truncated'), 'ipv4');
  assert.equal(sockets.length, 2);
  assert.equal(malformed, 1);
});

test('garbage lines are counted, never thrown', () => {
  const text =
    'sl local\n   0: zzzz\nnot a line at all\n   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1\n';
  const { sockets, malformed } = parseProcNetTcp(text, 'ipv4');
  assert.equal(sockets.length, 1);
  assert.equal(malformed, 2);
});

test('formats IPv6 like the WHATWG URL serializer (RFC 5952) for random addresses with zero runs', () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      const zero = rand() < 0.5; // plenty of zero groups, so runs and ties occur
      const v = zero ? 0 : Math.floor(rand() * 65536);
      bytes[g * 2] = v >> 8;
      bytes[g * 2 + 1] = v & 255;
    }
    const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
    if (mapped) continue;
    const groups = Array.from({ length: 8 }, (_, g) => ((bytes[g * 2]! << 8) | bytes[g * 2 + 1]!).toString(16));
    const expected = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
    assert.equal(formatAddress(bytes), expected);
  }
});

test('the streaming reader gives the same rows as the parser across 1 MiB read boundaries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-'));
  try {
    const lines = fixture('tcp-every-state').toString('latin1').split('\n');
    const header = lines[0]!;
    const body = lines.slice(1).filter(Boolean);
    // ~3 MiB: lines straddle the reader's chunk boundaries many times.
    const many = [header];
    for (let i = 0; many.length < 22_000; i++) many.push(body[i % body.length]!);
    const text = many.join('\n') + '\n';
    const path = join(dir, 'tcp');
    writeFileSync(path, text);
    const streamed: Socket[] = [];
    const res = readProcNetTcp('ipv4', (r) => streamed.push(toSocket(r)), path);
    const parsed = parseProcNetTcp(text, 'ipv4');
    assert.equal(res.malformed, 0);
    assert.equal(streamed.length, many.length - 1);
    assert.deepEqual(streamed, parsed.sockets);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
