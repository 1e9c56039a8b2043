// A byte table written in chunks as it is laid out is the same bytes as the table rendered whole,
// whether the writer is done with each chunk at once (the buffer is reused) or keeps it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ByteColumn, intWidth, renderByteTable } from '../../src/render/byte-table.ts';

const ROWS = 100_000;
const names = Array.from({ length: ROWS }, (_, i) => `host-${(i * 7919) % 100_003}.example`);
const columns: ByteColumn[] = [
  { header: 'Name', width: (i) => names[i]!.length, write: (out, i) => out.text(names[i]!) },
  { header: 'Count', right: true, width: (i) => intWidth(i * 31), write: (out, i) => out.int(i * 31) },
  {
    header: 'Last',
    width: (i) => (i % 3 === 0 ? 0 : 4),
    write: (out, i) => (i % 3 === 0 ? undefined : out.text('tail')),
  },
];
const order = Uint32Array.from({ length: ROWS }, (_, i) => ROWS - 1 - i);

for (const reusable of [true, false]) {
  test(`chunks of a long table add up to the whole table (writer ${reusable ? 'done with each chunk' : 'keeping its chunks'})`, () => {
    const whole = Buffer.from(renderByteTable(columns, order));
    assert.ok(whole.length > 2 << 20, `${whole.length} bytes: long enough for several chunks`);
    const chunks: Buffer[] = [];
    const rest = renderByteTable(columns, order, (chunk) => {
      // A copy when the buffer will be reused; the chunk itself when it is kept.
      chunks.push(reusable ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return reusable;
    });
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
    assert.ok(Buffer.concat([...chunks, Buffer.from(rest)]).equals(whole));
  });
}
