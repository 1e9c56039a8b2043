// A listing gives back every tcp_info number it was handed, whatever its size (64-bit counters,
// 32-bit maxima) and whatever the length of the kernel's struct (missing fields stay NaN).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketListing } from '../../src/analyze/socket-listing.ts';
import { newRow } from '../../src/kernel/socket-row.ts';
import { TCP_INFO_FIELDS, TI, newTcpInfoRecord } from '../../src/kernel/tcp-info.ts';

const WIDE = new Set<number>([
  TI.pacingRate,
  TI.bytesAcked,
  TI.bytesReceived,
  TI.deliveryRate,
  TI.busyUs,
  TI.rwndLimitedUs,
  TI.sndbufLimitedUs,
  TI.bytesSent,
  TI.bytesRetrans,
]);

/** Socket k's value of field f: the largest each field can hold for some sockets, small numbers for others; NaN past `fields`. */
function value(k: number, f: number, fields: number): number {
  if (f >= fields) return NaN;
  if (k % 3 === 0) return WIDE.has(f) ? Number.MAX_SAFE_INTEGER - k : 0xffffffff - k;
  return (k * 131 + f * 7) % 100_000;
}
// Field counts of shorter structs (older kernels), and the whole one.
const fieldsOf = (k: number) => [TCP_INFO_FIELDS, 28, 35, 6, TCP_INFO_FIELDS, 44][k % 6]!;

test('tcp_info numbers come back as they went in, across blocks, NaN where the struct was short', () => {
  const SOCKETS = 10_000;
  const listing = new SocketListing(true);
  const row = newRow('ipv4');
  row.addressHex = false;
  row.buf = new Uint8Array([127, 0, 0, 1, 127, 0, 0, 2]);
  row.remoteAt = 4;
  row.state = 1;
  const rec = newTcpInfoRecord();
  for (let k = 0; k < SOCKETS; k++) {
    // Every seventh socket has no tcp_info at all.
    row.hasInfo = k % 7 !== 3;
    row.info = row.hasInfo ? rec : undefined;
    for (let f = 0; f < TCP_INFO_FIELDS; f++) rec.values[f] = value(k, f, fieldsOf(k));
    listing.add(row);
  }
  for (let k = 0; k < SOCKETS; k++) {
    for (let f = 0; f < TCP_INFO_FIELDS; f++) {
      const want = k % 7 === 3 ? NaN : value(k, f, fieldsOf(k));
      const got = listing.infoValue(k, f);
      if (!Object.is(got, want)) assert.fail(`socket ${k} field ${f}: ${got}, not ${want}`);
    }
  }
  // And as JSON carries it (socket 12: a whole struct, the largest values).
  assert.equal(listing.socket(12).info?.bytesAcked, Number.MAX_SAFE_INTEGER - 12);
  assert.equal(listing.socket(12).info?.rttMs, (0xffffffff - 12) / 1000);
});
