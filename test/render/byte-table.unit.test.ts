// A byte table lays its rows out as renderTable lays out the same cells as strings — whole, in
// chunks (whether the writer is done with each chunk at once or keeps it), for a subset of its rows
// in another order, with colour codes, UTF-8 and cells replaced after their row was written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ByteColumn, ByteTable } from '../../src/render/byte-table.ts';
import { type Column, paint, renderTable } from '../../src/render/table.ts';

const ROWS = 100_000;
const cellsOf = (i: number): string[] => [
  paint(`host-${(i * 7919) % 100_003}.example`, i % 5 === 0 ? 'red' : undefined, true),
  String(i * 31),
  i % 3 === 0 ? '' : 'tail',
  i % 7 === 0 ? `prozeß-${i % 11}/é` : '-',
];
const columns: ByteColumn[] = [
  { header: 'Name', measured: true },
  { header: 'Count', right: true },
  { header: 'Last' },
  { header: 'Process', measured: true },
];
const asColumns: Column[] = columns.map((c) => ({ header: c.header, align: c.right ? 'right' : 'left' }));
const encoder = new TextEncoder();

function build(): { table: ByteTable; rows: string[][] } {
  const table = new ByteTable(columns);
  const rows: string[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const cells = cellsOf(i);
    rows.push(cells);
    table.beginRow();
    for (const cell of cells) {
      table.out.bytes(encoder.encode(cell));
      table.endCell();
    }
    table.endRow();
  }
  // A cell learnt later, longer than any other of its column.
  table.replaceCell(17, 1, encoder.encode('123456789012'));
  rows[17]![1] = '123456789012';
  return { table, rows };
}

const { table, rows } = build();
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

test('a byte table is laid out as renderTable lays out its cells', () => {
  assert.equal(text(table.render()), renderTable(asColumns, rows));
});

test('a subset of rows in another order is as wide as its own widest cells', () => {
  const order = Uint32Array.from([99_999, 3, 17, 40_000, 5]);
  assert.equal(
    text(table.render(order)),
    renderTable(
      asColumns,
      Array.from(order, (i) => rows[i]!),
    ),
  );
  assert.equal(text(table.render(Uint32Array.from([1]))), renderTable(asColumns, [rows[1]!]));
});

for (const reusable of [true, false]) {
  test(`chunks of a long table add up to the whole table (writer ${reusable ? 'done with each chunk' : 'keeping its chunks'})`, () => {
    const whole = Buffer.from(table.render());
    assert.ok(whole.length > 2 << 20, `${whole.length} bytes: long enough for several chunks`);
    const chunks: Buffer[] = [];
    const rest = table.render(undefined, (chunk) => {
      // A copy when the buffer will be reused; the chunk itself when it is kept.
      chunks.push(reusable ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return reusable;
    });
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
    assert.ok(Buffer.concat([...chunks, Buffer.from(rest)]).equals(whole));
  });
}

test('a row longer than the room left in a block keeps every row before it', () => {
  const t = new ByteTable([{ header: 'A' }, { header: 'B', right: true }]);
  const long = 'x'.repeat(5000); // more than a row's room: the block grows
  const expected: string[][] = [];
  for (let i = 0; i < 2000; i++) {
    const cells = [i % 2 === 0 ? long : 'short', String(i)];
    expected.push(cells);
    t.beginRow();
    for (const c of cells) {
      t.out.text(c);
      t.endCell();
    }
    t.endRow();
  }
  assert.equal(text(t.render()), renderTable([{ header: 'A' }, { header: 'B', align: 'right' }], expected));
});

test('ASCII columns shown whole take their widths from the longest cells written, as renderTable does', () => {
  const t = new ByteTable([{ header: 'Peer' }, { header: 'Queue', right: true }, { header: 'Cong' }]);
  const expected: string[][] = [];
  for (let i = 0; i < 50_000; i++) {
    const cells = [
      `10.0.${(i * 37) % 256}.${i % 256}:${(i * 7919) % 65_536}`,
      String((i * 104_729) % 1_000_003),
      i % 4 === 0 ? 'bbr' : 'cubic',
    ];
    expected.push(cells);
    t.beginRow();
    for (const c of cells) {
      t.out.text(c);
      t.endCell();
    }
    t.endRow();
  }
  const columns: Column[] = [{ header: 'Peer' }, { header: 'Queue', align: 'right' }, { header: 'Cong' }];
  assert.equal(text(t.render()), renderTable(columns, expected));
  assert.equal(text(t.render(Uint32Array.from([5, 4]))), renderTable(columns, [expected[5]!, expected[4]!]));
});
