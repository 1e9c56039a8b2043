// The bench viewer's upload, read as it arrives: a single pass over the bytes that sets aside what
// the viewer never reads (per-second histograms, the bulk of a long run's file) and refuses a file
// whose kept part is too big, too deep or has too many entries before JSON.parse ever sees it.
//
// Not a JSON parser: it follows strings, brackets, commas and colons only, which is all it needs to
// count. JSON.parse checks the kept text afterwards; for any text it accepts, these counts are exact
// (outside strings every bracket, comma and colon is structure), so its cost is bounded by them.

import { TooLargeError } from '../errors.ts';

export interface UploadLimits {
  /** Bytes of the upload as sent. */
  maxBytes: number;
  /** Bytes kept for JSON.parse once the set-aside values are taken out. */
  maxKeptBytes: number;
  /** Nesting of arrays and objects. */
  maxDepth: number;
  /** Entries in one array. */
  maxArrayEntries: number;
  /** Members of one object. */
  maxObjectMembers: number;
  /** Arrays and objects in all. */
  maxContainers: number;
  /** Values in all (every entry and member counts, nested ones too). */
  maxValues: number;
  /**
   * Different member names in all (a key longer than 64 bytes counts each time): JSON.parse pays
   * for each new name far more than for a name it has seen.
   */
  maxNames: number;
  /** Members whose values are replaced by null wherever they are (compared with the key's raw bytes). */
  setAside: ReadonlySet<string>;
}

export interface UploadScanner {
  /** Take the next piece of the upload; throws TooLargeError when a limit is passed. */
  write(chunk: Buffer): void;
  /** The kept text, for JSON.parse. */
  end(): string;
  /** Bytes written so far. */
  readonly bytes: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
/** Keys longer than this are never set aside, and are shortened in messages. */
const KEY_BYTES = 64;
const NULL = Buffer.from('null');

const mib = (n: number) => `${Math.round(n / (1 << 20))} MiB`;
const count = (n: number) => n.toLocaleString('en-US');

export function createUploadScanner(limits: UploadLimits): UploadScanner {
  // One entry per open array or object: is it an array, its entries so far, its current key.
  const isArray: boolean[] = [];
  const entries: number[] = [];
  const keys: string[] = [];
  let depth = 0;
  let containers = 0;
  let values = 0;
  let bytes = 0;

  let inString = false;
  /** The byte after a backslash at the end of the previous chunk is escaped. */
  let escapePending = false;
  /** The string being read is a key: its bytes are collected (up to KEY_BYTES). */
  let readingKey = false;
  const keyBytes = new Uint8Array(KEY_BYTES);
  let keyLength = 0;
  /** Next string in this object is a key (after `{` or a comma). */
  let expectKey = false;
  /** The key just read, until its colon. */
  let lastKey = '';

  /** Inside a set-aside value: its own depth (0 at the value), nothing is kept. */
  let skipping = false;
  let skipDepth = 0;

  let kept = Buffer.alloc(64 << 10);
  let keptLength = 0;

  /** Where the value at `levels` deep is, as runs[0].timeline[3]. */
  const path = (levels = depth) => {
    let p = '';
    for (let d = 0; d < levels; d++) {
      if (isArray[d]) p += `[${entries[d]! - 1}]`;
      else p += (p ? '.' : '') + keys[d]!;
    }
    return p || 'the file';
  };

  const keep = (chunk: Buffer, from: number, to: number) => {
    const n = to - from;
    if (n <= 0) return;
    if (keptLength + n > limits.maxKeptBytes) {
      throw new TooLargeError(
        `the file is over ${mib(limits.maxKeptBytes)} once its per-second histograms are set aside: more than the viewer draws`,
      );
    }
    if (keptLength + n > kept.length) {
      const bigger = Buffer.alloc(Math.min(limits.maxKeptBytes, Math.max(kept.length * 2, keptLength + n)));
      kept.copy(bigger, 0, 0, keptLength);
      kept = bigger;
    }
    chunk.copy(kept, keptLength, from, to);
    keptLength += n;
  };

  const open = (array: boolean) => {
    if (depth >= limits.maxDepth) throw new TooLargeError(`${path()}: nested more than ${limits.maxDepth} deep`);
    if (++containers > limits.maxContainers)
      throw new TooLargeError(`${path()}: more than ${count(limits.maxContainers)} arrays and objects in the file`);
    isArray[depth] = array;
    entries[depth] = 0;
    keys[depth] = '';
    depth++;
    expectKey = !array;
  };

  /** A value begins at this level (the first byte of an entry or member). */
  const entry = () => {
    if (depth === 0) return;
    const d = depth - 1;
    const n = ++entries[d]!;
    if (++values > limits.maxValues)
      throw new TooLargeError(`${path()}: more than ${count(limits.maxValues)} values in the file`);
    if (isArray[d] && n > limits.maxArrayEntries)
      throw new TooLargeError(`${path(d)}: more than ${count(limits.maxArrayEntries)} entries`);
    if (!isArray[d] && n > limits.maxObjectMembers)
      throw new TooLargeError(`${path(d)}: more than ${count(limits.maxObjectMembers)} members`);
  };

  /** Whether the level's current entry was counted: after a comma or an opening bracket, not yet. */
  let entryCounted = false;

  const write = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > limits.maxBytes) throw new TooLargeError(`the file is over ${mib(limits.maxBytes)}`);
    const n = chunk.length;
    if (n === 0) return;
    let keepFrom = 0;
    let i = 0;
    // Where the next quote and backslash are in this chunk, found once and reused: a string full of
    // escapes costs one pass, not one search per escape.
    let nextQuote = -1;
    let nextBackslash = -1;
    if (escapePending) {
      escapePending = false;
      if (readingKey) collectKey(chunk, 0, 1);
      i = 1;
    }
    while (i < n) {
      if (inString) {
        const start = i;
        let closed = false;
        // Most strings are short (keys, a target): a plain loop. Long ones (a histogram) are searched
        // natively, each next quote and backslash found once and reused, so that a string full of
        // escapes costs one pass, not one search per escape.
        const shortEnd = Math.min(n, i + 64);
        while (i < shortEnd) {
          const b = chunk[i]!;
          if (b === QUOTE) {
            closed = true;
            break;
          }
          i += b === BACKSLASH ? 2 : 1;
        }
        if (i > n) {
          escapePending = true;
          i = n;
        }
        while (!closed && i < n) {
          if (nextQuote < i) nextQuote = indexOrEnd(chunk, QUOTE, i);
          if (nextBackslash < i) nextBackslash = indexOrEnd(chunk, BACKSLASH, i);
          if (nextQuote < nextBackslash) {
            i = nextQuote;
            closed = true;
            break;
          }
          if (nextBackslash >= n) {
            i = n;
            break;
          }
          i = nextBackslash + 2;
          if (i > n) {
            escapePending = true;
            i = n;
          }
        }
        if (readingKey) collectKey(chunk, start, i);
        if (closed) {
          inString = false;
          i++;
          if (readingKey) {
            readingKey = false;
            lastKey = keyText();
          }
        }
        continue;
      }
      const c = chunk[i]!;
      if (skipping) {
        if (c === QUOTE) inString = true;
        else if (c === OPEN_OBJECT || c === OPEN_ARRAY) skipDepth++;
        else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY || c === COMMA) {
          if (skipDepth === 0) {
            // The value is over: keep from this comma or closing bracket on.
            skipping = false;
            keepFrom = i;
            continue; // seen again below, as structure
          }
          if (c !== COMMA) skipDepth--;
        }
        i++;
        continue;
      }
      if (c === QUOTE) {
        if (!entryCounted) {
          entry();
          entryCounted = true;
        }
        inString = true;
        if (expectKey && depth > 0 && !isArray[depth - 1]) {
          readingKey = true;
          keyLength = 0;
          expectKey = false;
        }
        i++;
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (!entryCounted) entry();
        open(c === OPEN_ARRAY);
        entryCounted = false;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (depth > 0) depth--;
        entryCounted = true;
        expectKey = false;
      } else if (c === COMMA) {
        entryCounted = false;
        expectKey = depth > 0 && !isArray[depth - 1];
      } else if (c === COLON && depth > 0 && !isArray[depth - 1]) {
        keys[depth - 1] = lastKey;
        const key = lastKey;
        lastKey = '';
        if (limits.setAside.has(key)) {
          keep(chunk, keepFrom, i + 1);
          keep(NULL, 0, NULL.length);
          skipping = true;
          skipDepth = 0;
          i++;
          keepFrom = i;
          continue;
        }
      } else if (c > 0x20 && !entryCounted) {
        // The first byte of a number, true, false or null.
        entry();
        entryCounted = true;
      }
      i++;
    }
    if (!skipping) keep(chunk, keepFrom, n);
  };

  const collectKey = (chunk: Buffer, from: number, to: number) => {
    const room = KEY_BYTES - Math.min(keyLength, KEY_BYTES);
    const end = Math.min(to, from + room);
    for (let j = from; j < end; j++) keyBytes[keyLength++] = chunk[j]!;
    // Past KEY_BYTES the key is only known to be long.
    if (to - from > room) keyLength = KEY_BYTES + 1;
  };

  // A file repeats the same few keys hundreds of thousands of times: each is made a string once.
  const known = new Map<number, { bytes: Uint8Array; text: string }[]>();
  let names = 0;
  const keyText = (): string => {
    const n = Math.min(keyLength, KEY_BYTES);
    let hash = 0x811c9dc5;
    for (let j = 0; j < n; j++) hash = Math.imul(hash ^ keyBytes[j]!, 0x01000193);
    hash = (hash ^ keyLength) >>> 0;
    const candidates = known.get(hash);
    if (candidates && keyLength <= KEY_BYTES) {
      for (const c of candidates) {
        if (c.bytes.length !== n) continue;
        let same = true;
        for (let j = 0; j < n && same; j++) same = c.bytes[j] === keyBytes[j];
        if (same) return c.text;
      }
    }
    if (++names > limits.maxNames)
      throw new TooLargeError(`${path()}: more than ${count(limits.maxNames)} different member names in the file`);
    const text = Buffer.from(keyBytes.subarray(0, n)).toString('utf8') + (keyLength > KEY_BYTES ? '…' : '');
    // A long key is only known by its start: never taken for another, so each counts as new.
    if (keyLength <= KEY_BYTES) {
      const entry = { bytes: keyBytes.slice(0, n), text };
      if (candidates) candidates.push(entry);
      else known.set(hash, [entry]);
    }
    return text;
  };

  return {
    write,
    end: () => kept.toString('utf8', 0, keptLength),
    get bytes() {
      return bytes;
    },
  };
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at === -1 ? chunk.length : at;
}
