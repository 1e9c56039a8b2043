import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEventFormat } from '../../src/kernel/tracefs-instance.ts';
import { DEFAULT_PAGE_LAYOUT, parseHeaderPage, readPage } from '../../src/kernel/tracefs-ring.ts';
import { formatAddress } from '../../src/kernel/socket-row.ts';
import { stateName } from '../../src/model/tcp-state.ts';

const dir = new URL('./fixtures/tracefs/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, dir));
const PAGE = 4096;

test('the page header layout comes from events/header_page', () => {
  assert.deepEqual(parseHeaderPage(fixture('header_page').toString()), DEFAULT_PAGE_LAYOUT);
});

test('an event format file gives each field its offset and size, arrays by their bare name', () => {
  const { id, fields } = parseEventFormat(fixture('inet_sock_set_state.format').toString());
  assert.equal(id, 2287);
  assert.deepEqual(fields.get('common_pid'), { offset: 4, size: 4, signed: true });
  assert.deepEqual(fields.get('skaddr'), { offset: 8, size: 8, signed: false });
  assert.deepEqual(fields.get('saddr_v6'), { offset: 40, size: 16, signed: false });
  assert.deepEqual(fields.get('daddr_v6'), { offset: 56, size: 16, signed: false });
});

test("captured ring-buffer pages read as the same records, times and fields as the kernel's own text of them", () => {
  const { fields } = parseEventFormat(fixture('inet_sock_set_state.format').toString());
  const off = (name: string) => fields.get(name)!.offset;
  const raw = fixture('inet_sock_set_state-cpu0.raw');
  const ours: string[] = [];
  for (let p = 0; p < raw.length; p += PAGE) {
    const r = readPage(raw, p, PAGE, DEFAULT_PAGE_LAYOUT, (ns, at, length) => {
      assert.equal(length, 72);
      const v6 = raw.readUInt16LE(at + off('family')) === 10;
      const addr = (name: string, n: number) => formatAddress(raw.subarray(at + off(name), at + off(name) + n));
      // As the kernel prints them: seconds with microseconds (ns2usecs rounds), then the fields.
      const us = Math.floor((ns + 500) / 1000);
      ours.push(
        [
          raw.readInt32LE(at + off('common_pid')),
          `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`,
          raw.readUInt16LE(at + off('sport')),
          raw.readUInt16LE(at + off('dport')),
          v6 ? addr('saddr_v6', 16) : addr('saddr', 4),
          v6 ? addr('daddr_v6', 16) : addr('daddr', 4),
          stateName(raw.readInt32LE(at + off('oldstate'))),
          stateName(raw.readInt32LE(at + off('newstate'))),
        ].join(' '),
      );
    });
    assert.equal(r.missed, 0);
  }
  const theirs = fixture('inet_sock_set_state.trace')
    .toString()
    .trim()
    .split('\n')
    .map((line) => {
      const m =
        /-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): inet_sock_set_state: family=(\S+) protocol=\S+ sport=(\d+) dport=(\d+) saddr=(\S+) daddr=(\S+) saddrv6=(\S+) daddrv6=(\S+) oldstate=TCP_(\S+) newstate=TCP_(\S+)$/.exec(
          line,
        );
      assert.ok(m, line);
      const v6 = m[3] === 'AF_INET6';
      return [m[1], m[2], m[4], m[5], v6 ? m[8] : m[6], v6 ? m[9] : m[7], m[10], m[11]].join(' ');
    });
  assert.equal(theirs.length, 66);
  assert.deepEqual(ours, theirs);
  // Both families and the gaps between connections (time-extend headers) are in the capture.
  assert.ok(ours.some((l) => l.includes('::1')) && ours.some((l) => l.includes('127.0.0.1')));
});

/** A page built by hand: header, then the given words (little-endian u32) as data. */
function page(timestampNs: bigint, words: number[], commitFlags = 0): Buffer {
  const b = Buffer.alloc(PAGE);
  b.writeBigUInt64LE(timestampNs, 0);
  b.writeUInt32LE(((words.length * 4) | commitFlags) >>> 0, 8);
  for (const [i, w] of words.entries()) b.writeUInt32LE(w >>> 0, 16 + i * 4);
  return b;
}
const header = (typeLen: number, delta: number) => ((delta << 5) | typeLen) >>> 0;

test('records with their length in a word of their own, discarded records, time extends and absolute times', () => {
  const seen: [number, number[]][] = [];
  const b = page(1_000_000n, [
    header(2, 10),
    0xa1,
    0xa2, // a record of 2 words, 10 ns after the page's time
    header(0, 5),
    12,
    0xb1,
    0xb2, // a record whose length (+ 4) is in the next word
    header(29, 7),
    8,
    0, // a discarded record: skipped, its delta still counts
    header(30, 3),
    1, // a time extend: 1 << 27 + 3 ns
    header(1, 0),
    0xc1,
    header(31, 100),
    2, // an absolute time: 2 << 27 | 100
    header(1, 1),
    0xd1,
  ]);
  readPage(b, 0, PAGE, DEFAULT_PAGE_LAYOUT, (ns, at, length) => {
    const words: number[] = [];
    for (let i = 0; i < length; i += 4) words.push(b.readUInt32LE(at + i));
    seen.push([ns, words]);
  });
  const t1 = 1_000_000 + 10;
  const t2 = t1 + 5;
  const t3 = t2 + 7 + 2 ** 27 + 3;
  const t4 = 2 * 2 ** 27 + 100 + 1;
  assert.deepEqual(seen, [
    [t1, [0xa1, 0xa2]],
    [t2, [0xb1, 0xb2]],
    [t3, [0xc1]],
    [t4, [0xd1]],
  ]);
});

test('padding with no time ends the page; a stored count of lost events is returned', () => {
  const seen: number[] = [];
  const words = [header(1, 1), 0x11, header(29, 0), header(1, 1), 0x22];
  const b = page(0n, words, (1 << 31) | (1 << 30));
  // The count sits right after the data.
  b.writeBigUInt64LE(42n, 16 + words.length * 4);
  const r = readPage(b, 0, PAGE, DEFAULT_PAGE_LAYOUT, (_ns, at) => seen.push(b.readUInt32LE(at)));
  assert.deepEqual(seen, [0x11]);
  assert.equal(r.missed, 42);
});

test('a page that claims more data than it holds, or a record past its end, is an error', () => {
  const b = page(0n, [header(1, 0), 1]);
  b.writeUInt32LE(PAGE, 8);
  assert.throws(() => readPage(b, 0, PAGE, DEFAULT_PAGE_LAYOUT, () => {}), /more than the page holds/);
  const c = page(0n, [header(0, 0), 4000]);
  assert.throws(() => readPage(c, 0, PAGE, DEFAULT_PAGE_LAYOUT, () => {}), /runs past its page/);
});
