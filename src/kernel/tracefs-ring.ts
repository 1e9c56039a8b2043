// The binary pages of the kernel's tracing ring buffer (per_cpu/cpuN/trace_pipe_raw) as records. Pure.
//
// A page is a header (events/header_page: a u64 timestamp, a commit word whose low bits are the
// length of the data that follows and whose high bits flag events lost before this page) and then
// events, each behind a 32-bit header of type_len:5 and time_delta:27 (events/header_event):
//   type_len 1..28  a record of type_len × 4 bytes follows the header
//   type_len 0      a record whose length (+ 4) is the next 32-bit word, the record after it
//   29 padding      time_delta 0: the rest of the page is empty; else the next word is its length
//   30 time extend  a delta too large for 27 bits: the next word holds its upper bits
//   31 time stamp   an absolute time, the next word holds its upper bits
// Times add up from the page's timestamp (see kernel/trace/ring_buffer.c).

/** Where the page header keeps its fields, from events/header_page. */
export interface PageLayout {
  timestampOffset: number;
  commitOffset: number;
  commitSize: number;
  dataOffset: number;
}

/** The layout of x86-64 and other 64-bit kernels: the default when header_page cannot be read. */
export const DEFAULT_PAGE_LAYOUT: PageLayout = { timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16 };

/** The page header's layout from the text of events/header_page. */
export function parseHeaderPage(text: string): PageLayout {
  const field = (name: string) => {
    const m = new RegExp(`field:[^;]*\\b${name};\\s*offset:(\\d+);\\s*size:(\\d+);`).exec(text);
    if (!m) throw new Error(`events/header_page has no field ${name}`);
    return { offset: Number(m[1]), size: Number(m[2]) };
  };
  const ts = field('timestamp');
  const commit = field('commit');
  const data = field('data');
  return { timestampOffset: ts.offset, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset };
}

/** The commit word's flags (RB_MISSED_EVENTS, RB_MISSED_STORED): not part of the length. */
const MISSED_EVENTS = 1 << 31;
const MISSED_STORED = 1 << 30;
const LENGTH_MASK = (1 << 30) - 1;
const TS_MSB = 0xf8n << 56n;

export interface PageRecords {
  /** Records the kernel said were lost before this page (when it stored the count; -1 when it only flagged it). */
  missed: number;
}

/**
 * Calls `onRecord(ns, offset, length)` for each record of the page in `buf` from `pageStart` (its
 * data at buf[offset, offset + length)); `ns` is the record's time on the buffer's trace_clock.
 * Returns how many records the kernel lost before this page. Throws on a page that does not parse.
 */
export function readPage(
  buf: Buffer,
  pageStart: number,
  pageSize: number,
  layout: PageLayout,
  onRecord: (ns: number, offset: number, length: number) => void,
): PageRecords {
  const tsBig = buf.readBigUInt64LE(pageStart + layout.timestampOffset);
  // The low 32 bits of commit carry the length and flags (the word is little-endian).
  const commitWord = buf.readUInt32LE(pageStart + layout.commitOffset);
  const length = commitWord & LENGTH_MASK;
  const dataStart = pageStart + layout.dataOffset;
  const end = dataStart + length;
  if (end > pageStart + pageSize)
    throw new Error(`ring buffer page claims ${length} bytes of data, more than the page holds`);
  let missed = 0;
  if (commitWord & MISSED_EVENTS) {
    // The count, when stored, sits right after the data.
    missed = commitWord & MISSED_STORED && end + 8 <= pageStart + pageSize ? Number(buf.readBigUInt64LE(end)) : -1;
  }
  // Nanoseconds since boot fit a double exactly for 104 days; deltas are added as numbers.
  let ts = Number(tsBig);
  let at = dataStart;
  while (at + 4 <= end) {
    const h = buf.readUInt32LE(at);
    const typeLen = h & 31;
    const delta = h >>> 5;
    if (typeLen >= 1 && typeLen <= 28) {
      ts += delta;
      onRecord(ts, at + 4, typeLen * 4);
      at += 4 + typeLen * 4;
    } else if (typeLen === 0) {
      ts += delta;
      const len = buf.readUInt32LE(at + 4);
      if (len < 4 || at + 4 + len > end) throw new Error(`ring buffer record of ${len} bytes runs past its page`);
      onRecord(ts, at + 8, len - 4);
      at += 4 + len;
    } else if (typeLen === 29) {
      if (delta === 0) break;
      // A discarded record: its space is still there, and its time delta counts.
      ts += delta;
      at += 4 + buf.readUInt32LE(at + 4);
    } else if (typeLen === 30) {
      ts += buf.readUInt32LE(at + 4) * 2 ** 27 + delta;
      at += 8;
    } else {
      // An absolute time; the kernel may keep only its low 59 bits, taking the rest from the page's.
      let abs = (BigInt(buf.readUInt32LE(at + 4)) << 27n) | BigInt(delta);
      const base = BigInt(ts);
      if (base & TS_MSB) {
        abs |= base & TS_MSB;
        if (abs < base) abs += 1n << 59n;
      }
      ts = Number(abs);
      at += 8;
    }
  }
  return { missed };
}
