// Peer keys are the same whichever reader filled the row: /proc's hex text (words in host order)
// or netlink's bytes (network order).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRow, type TcpRow } from '../../src/kernel/socket-row.ts';
import { formatPeerKey, peerKey } from '../../src/host/top-list.ts';
import { scanTcpLines } from '../../src/kernel/proc-net-tcp.ts';

function procRow(line: string, family: 'ipv4' | 'ipv6'): TcpRow {
  const buf = Buffer.from(`${line}\n`, 'latin1');
  let copy: TcpRow | undefined;
  scanTcpLines(buf, 0, buf.length, newRow(family), (r) => (copy = { ...r }), true);
  assert.ok(copy);
  return copy;
}

function netlinkRow(family: 'ipv4' | 'ipv6', remote: number[]): TcpRow {
  const row = newRow(family);
  const size = family === 'ipv4' ? 4 : 16;
  row.buf = new Uint8Array(size * 2);
  row.buf.set(remote, size);
  row.addressHex = false;
  row.localAt = 0;
  row.remoteAt = size;
  row.remotePort = 443;
  return row;
}

test('an IPv4 peer, an IPv4-mapped one and an IPv6 one key and format alike from /proc and from netlink', () => {
  // 198.18.1.2 as /proc prints it on a little-endian host: 020112C6.
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const v4hex = le ? '020112C6' : 'C6120102';
  const procV4 = procRow(
    `   0: 0100007F:1F90 ${v4hex}:01BB 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1`,
    'ipv4',
  );
  const netV4 = netlinkRow('ipv4', [198, 18, 1, 2]);
  assert.equal(peerKey(procV4), peerKey(netV4));
  assert.equal(formatPeerKey(peerKey(netV4)), '198.18.1.2');
  const mappedPrefix = `0000000000000000${le ? 'FFFF0000' : '0000FFFF'}`;
  const procMapped = procRow(
    `   0: 00000000000000000000000000000000:1F90 ${mappedPrefix}${v4hex}:01BB 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1`,
    'ipv6',
  );
  const netMapped = netlinkRow('ipv6', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 1, 2]);
  assert.equal(peerKey(procMapped), peerKey(netV4));
  assert.equal(peerKey(netMapped), peerKey(netV4));
  // 2001:db8::7 in both forms.
  const v6bytes = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
  const words = [0, 4, 8, 12].map((i) => {
    const w = v6bytes.slice(i, i + 4);
    return (le ? w.reverse() : w)
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase();
  });
  const procV6 = procRow(
    `   0: 00000000000000000000000000000000:1F90 ${words.join('')}:01BB 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1`,
    'ipv6',
  );
  const netV6 = netlinkRow('ipv6', v6bytes);
  assert.equal(peerKey(procV6), peerKey(netV6));
  assert.equal(formatPeerKey(peerKey(netV6)), '2001:db8::7');
});
