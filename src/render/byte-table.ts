// Tables of many rows written straight into bytes: each row's cells are formatted once, as they
// are read, into one store of bytes (no string or object per cell, which for 100,000 rows is what
// costs); the columns are laid out at the end from the cells' lengths.

export interface ByteColumn {
  header: string;
  right?: boolean;
  /**
   * Cells that may hold more than one byte per character (UTF-8) or ANSI colour codes: their width
   * is counted from their bytes. Every other cell is ASCII, one byte per character.
   */
  measured?: boolean;
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

  /** A non-negative integer in decimal. */
  int(v: number): void {
    // Past 2^53 a double's remainders are not its digits: the exact decimal of the double instead.
    if (v >= 9007199254740992) {
      this.text(BigInt(v).toString());
      return;
    }
    const n = intWidth(v);
    this.reserve(n);
    const b = this.buf;
    let p = this.pos + n;
    this.pos = p;
    if (v < 2147483648) {
      // Integer arithmetic where the value fits in 31 bits: most of what a table holds.
      let x = v | 0;
      do {
        const q = (x / 10) | 0;
        b[--p] = 48 + x - q * 10;
        x = q;
      } while (x > 0);
      return;
    }
    let x = v;
    do {
      b[--p] = 48 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
  }

  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }

  /** len bytes of src from `from`. */
  copy(src: Uint8Array, from: number, len: number): void {
    this.reserve(len);
    const b = this.buf;
    let p = this.pos;
    // A loop: a cell is a few bytes, fewer than a call to copy() is worth.
    for (let k = from, end = from + len; k < end; k++) b[p++] = src[k]!;
    this.pos = p;
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
  if (v < 100_000) return v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10_000 ? 4 : 5;
  if (v >= 9007199254740992) return BigInt(v).toString().length;
  let n = 6;
  for (let x = v; x >= 1_000_000; x = Math.floor(x / 10)) n++;
  return n;
}

// The store grows by blocks, none copied once written; a row never spans two blocks.
const BLOCK_BYTES = 1 << 20;
const ROW_ROOM = 4096;
const GROUP_BITS = 12;
const GROUP = 1 << GROUP_BITS;
const GROUP_MASK = GROUP - 1;

/**
 * Rows whose cells were written as bytes, one after the other: begin a row, write a cell into `out`
 * and end it with endCell, for each column, then endRow. render lays them out.
 */
export class ByteTable {
  readonly out: ByteWriter;
  rows = 0;
  private readonly columns: ByteColumn[];
  private readonly blocks: Buffer[] = [];
  // By groups of rows, none copied as the table grows: where each row starts (which block, where in
  // it), and the byte length of each of its cells.
  private readonly rowBlocks: Uint16Array[] = [];
  private readonly rowStarts: Uint32Array[] = [];
  private readonly lengthGroups: Uint16Array[] = [];
  private lengths: Uint16Array = new Uint16Array(0);
  private cellStart = 0;
  private cell = 0;
  private column = 0;
  /** The longest cell of each column, in bytes, over every row written. */
  private readonly longest: Uint16Array;
  /** Cells replaced after their row was written (row * columns + column). */
  private readonly replaced = new Map<number, Uint8Array>();

  constructor(columns: ByteColumn[]) {
    this.columns = columns;
    this.longest = new Uint16Array(columns.length);
    this.out = new ByteWriter(BLOCK_BYTES);
    this.blocks.push(this.out.buf);
  }

  beginRow(): void {
    const out = this.out;
    if (out.pos + ROW_ROOM > out.buf.length) {
      out.buf = Buffer.allocUnsafe(BLOCK_BYTES);
      out.pos = 0;
      this.blocks.push(out.buf);
    }
    const r = this.rows;
    const g = r >>> GROUP_BITS;
    const k = r & GROUP_MASK;
    if (k === 0) {
      this.rowBlocks.push(new Uint16Array(GROUP));
      this.rowStarts.push(new Uint32Array(GROUP));
      this.lengthGroups.push(new Uint16Array(GROUP * this.columns.length));
    }
    this.rowBlocks[g]![k] = this.blocks.length - 1;
    this.rowStarts[g]![k] = out.pos;
    this.lengths = this.lengthGroups[g]!;
    this.cellStart = out.pos;
    this.cell = k * this.columns.length;
    this.column = 0;
  }

  endCell(): void {
    const pos = this.out.pos;
    const len = pos - this.cellStart;
    this.lengths[this.cell++] = len;
    if (len > this.longest[this.column]!) this.longest[this.column] = len;
    this.column++;
    this.cellStart = pos;
  }

  endRow(): void {
    // A row longer than the room left grew the writer's buffer, a copy holding the block's rows too.
    this.blocks[this.blocks.length - 1] = this.out.buf;
    this.rows++;
  }

  /** Replace a cell of a row already written. */
  replaceCell(row: number, column: number, bytes: Uint8Array): void {
    this.replaced.set(row * this.columns.length + column, bytes);
  }

  private width(c: number, bytes: Uint8Array, at: number, len: number): number {
    return this.columns[c]!.measured ? visibleWidth(bytes, at, len) : len;
  }

  /**
   * The rows of `order` (every row when undefined) under the headers, each column as wide as its
   * widest cell among them, two spaces apart, trailing spaces trimmed like renderTable. With
   * `write`, the table goes to it in chunks as it is laid out and what is returned is the rest.
   */
  render(order?: ArrayLike<number>, write?: ChunkWriter): Uint8Array {
    const cols = this.columns.length;
    const last = cols - 1;
    const rows = order ? order.length : this.rows;
    const widths = this.columns.map((c) => c.header.length);
    const replaced = this.replaced.size > 0 ? this.replaced : undefined;
    const anyMeasured = this.columns.some((c) => c.measured);
    // Every row shown, each cell one byte a character, none replaced: the widths are the longest
    // cells, known as they were written. Otherwise they are measured among the rows shown.
    const measure = order !== undefined || replaced !== undefined || anyMeasured;
    if (!measure) for (let c = 0; c < cols; c++) widths[c] = Math.max(widths[c]!, this.longest[c]!);
    for (let k = 0; measure && k < rows; k++) {
      const r = order ? order[k]! : k;
      const g = r >>> GROUP_BITS;
      const i = r & GROUP_MASK;
      let at = this.rowStarts[g]![i]!;
      const block = this.blocks[this.rowBlocks[g]![i]!]!;
      const lengths = this.lengthGroups[g]!;
      for (let c = 0, cell = i * cols; c < cols; c++, cell++) {
        const len = lengths[cell]!;
        let w = len;
        if (replaced?.has(r * cols + c)) w = replaced.get(r * cols + c)!.length;
        else if (anyMeasured) w = this.width(c, block, at, len);
        if (w > widths[c]!) widths[c] = w;
        at += len;
      }
    }
    const out = new ByteWriter(write ? CHUNK_BYTES + 4096 : undefined);
    const header = this.columns.map((c, i) =>
      c.right ? c.header.padStart(widths[i]!) : i === last ? c.header : c.header.padEnd(widths[i]!),
    );
    out.text(header.join('  ').trimEnd());
    out.byte(10);
    const right = this.columns.map((c) => Boolean(c.right));
    // Room for any row: every column at its width and the spaces between; a measured cell may hold
    // more bytes than it shows, so a row with one also reserves its own length.
    let rowRoom = 1;
    for (const w of widths) rowRoom += w + 2;
    for (let k = 0; k < rows; k++) {
      const r = order ? order[k]! : k;
      const g = r >>> GROUP_BITS;
      const i = r & GROUP_MASK;
      let at = this.rowStarts[g]![i]!;
      const block: Uint8Array = this.blocks[this.rowBlocks[g]![i]!]!;
      const lengths = this.lengthGroups[g]!;
      if (anyMeasured) {
        let bytes = 0;
        for (let c = 0, cell = i * cols; c < cols; c++, cell++) bytes += lengths[cell]!;
        out.reserve(rowRoom + bytes);
      } else out.reserve(rowRoom);
      // The cells go straight into the buffer: one reserve for the row, no call per cell.
      const b = out.buf;
      let p = out.pos;
      let pendingSpaces = 0;
      for (let c = 0, cell = i * cols; c <= last; c++, cell++) {
        const len = lengths[cell]!;
        let from = at;
        let src = block;
        let n = len;
        const other = replaced?.get(r * cols + c);
        if (other) {
          src = other;
          from = 0;
          n = other.length;
        }
        const pad = widths[c]! - (anyMeasured ? this.width(c, src, from, n) : n);
        if (c > 0) pendingSpaces += 2;
        if (right[c]) pendingSpaces += pad;
        // Spaces are written only before something that is not trailing.
        if (n > 0) {
          for (; pendingSpaces > 0; pendingSpaces--) b[p++] = 32;
          for (let q = from, end = from + n; q < end; q++) b[p++] = src[q]!;
        }
        if (!right[c]) pendingSpaces += pad;
        at += len;
      }
      b[p++] = 10;
      out.pos = p;
      if (write && p >= CHUNK_BYTES) out.flush(write);
    }
    return out.result();
  }
}

/** Characters shown for len bytes of UTF-8 at `at`: ANSI colour codes and continuation bytes count nothing. */
function visibleWidth(b: Uint8Array, at: number, len: number): number {
  let n = 0;
  for (let p = at, end = at + len; p < end; p++) {
    const c = b[p]!;
    if (c === 27) {
      while (p < end && b[p] !== 109) p++; // to the 'm' that ends ESC [ ... m
      continue;
    }
    if ((c & 0xc0) !== 0x80) n++;
  }
  return n;
}
