// Tables of many rows written straight into bytes: each cell measures itself, then writes its
// digits into one growing buffer — no string per cell, which for 100,000 rows is what costs.

export interface ByteColumn {
  header: string;
  right?: boolean;
  /** Width of row i's cell, in characters (ASCII only). */
  width(i: number): number;
  write(out: ByteWriter, i: number): void;
}

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(bytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** A short string (names, addresses): ASCII byte by byte, anything else as UTF-8. */
  text(s: string): void {
    this.reserve(s.length);
    const b = this.buf;
    let p = this.pos;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c > 127) {
        this.reserve(Buffer.byteLength(s) + 1);
        this.pos += this.buf.write(s, this.pos, 'utf8');
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  spaces(n: number): void {
    if (n <= 0) return;
    this.reserve(n);
    const b = this.buf;
    // A loop: Buffer.fill costs more than the few spaces of a cell.
    for (let p = this.pos, end = p + n; p < end; p++) b[p] = 32;
    this.pos += n;
  }

  /** A non-negative integer in decimal. */
  int(v: number): void {
    const n = intWidth(v);
    this.reserve(n);
    let p = this.pos + n;
    let x = v;
    do {
      this.buf[--p] = 48 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
    this.pos += n;
  }

  /** An integer count of tenths, as "12.3". */
  tenths(t: number): void {
    this.int(Math.floor(t / 10));
    this.byte(46);
    this.byte(48 + (t % 10));
  }

  /** An integer count of thousandths below 1000, as "0.045". */
  thousandths(t: number): void {
    this.reserve(5);
    const b = this.buf;
    const p = this.pos;
    b[p] = 48;
    b[p + 1] = 46;
    b[p + 2] = 48 + Math.floor(t / 100);
    b[p + 3] = 48 + (Math.floor(t / 10) % 10);
    b[p + 4] = 48 + (t % 10);
    this.pos += 5;
  }

  /** The bytes written: written out as they are, no string is made of them. */
  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /**
   * Hands the bytes written so far to `write` and starts again at the beginning of the buffer when
   * `write` says it is done with them (a synchronous write), else in a new buffer.
   */
  flush(write: ChunkWriter): void {
    if (this.pos === 0) return;
    const done = write(this.buf.subarray(0, this.pos));
    if (!done) this.buf = Buffer.allocUnsafe(this.buf.length);
    this.pos = 0;
  }
}

/** Takes a chunk of output; true when it no longer needs the chunk's bytes (they were written). */
export type ChunkWriter = (chunk: Uint8Array) => boolean;

/**
 * A table's bytes go out in chunks of about this size when a writer is given: one buffer reused,
 * rather than one that doubles to the size of the whole table, copying itself each time and
 * touching fresh memory.
 */
const CHUNK_BYTES = 1 << 20;

/** Digits of a non-negative integer. */
export function intWidth(v: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  return n;
}

/**
 * Lay out `order`'s rows under the headers, each column as wide as its widest cell, two spaces
 * apart, trailing spaces trimmed like renderTable. With `write`, the table goes to it in chunks as
 * it is laid out and what is returned is the rest.
 */
export function renderByteTable(columns: ByteColumn[], order: ArrayLike<number>, write?: ChunkWriter): Uint8Array {
  const widths = columns.map((c) => c.header.length);
  // Each cell is measured once: its width is kept (one byte per cell; wider cells, which no
  // number or address makes, are measured again when written).
  const rows = order.length;
  const cellWidths = new Uint8Array(rows * columns.length);
  for (let c = 0; c < columns.length; c++) {
    const col = columns[c]!;
    let w = widths[c]!;
    for (let k = 0, at = c; k < rows; k++, at += columns.length) {
      const x = col.width(order[k]!);
      cellWidths[at] = x > 255 ? 0 : x;
      if (x > w) w = x;
    }
    widths[c] = w;
  }
  const out = new ByteWriter(write ? CHUNK_BYTES + 4096 : undefined);
  const last = columns.length - 1;
  const header = columns.map((c, i) =>
    c.right ? c.header.padStart(widths[i]!) : i === last ? c.header : c.header.padEnd(widths[i]!),
  );
  out.text(header.join('  ').trimEnd());
  out.byte(10);
  for (let k = 0, at = 0; k < rows; k++) {
    const i = order[k]!;
    let pendingSpaces = 0;
    for (let c = 0; c <= last; c++, at++) {
      const col = columns[c]!;
      if (c > 0) pendingSpaces += 2;
      const pad = widths[c]! - (cellWidths[at] || col.width(i));
      if (col.right) pendingSpaces += pad;
      // Spaces are written only before something that is not trailing.
      out.spaces(pendingSpaces);
      pendingSpaces = 0;
      col.write(out, i);
      if (!col.right) pendingSpaces = pad;
    }
    out.byte(10);
    if (write && out.pos >= CHUNK_BYTES) out.flush(write);
  }
  return out.result();
}
