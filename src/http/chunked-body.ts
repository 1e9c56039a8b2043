// The chunked transfer coding (RFC 9112 7.1) read incrementally, for every HTTP/1 framer of ours:
// where a chunked body ends, how many data bytes it carried, and why it is malformed when it is.

const SIZE = 0;
const EXT = 1; // chunk extensions (or the CR) after the size, up to LF
const DATA = 2;
const DATA_END = 3; // CRLF after chunk data
const TRAILER_START = 4;
const TRAILER_LINE = 5;
const DONE = 6;

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const SEMICOLON = 59;

/** A chunk size takes at most 15 hex digits: beyond, a number no longer holds it exactly. */
const MAX_SIZE_DIGITS = 15;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export class ChunkedBody {
  /** Why the body is not valid chunked coding; undefined while it is. */
  error: string | undefined;
  /** Chunk data bytes in the span the last read() consumed. */
  dataBytes = 0;
  private state = SIZE;
  private remaining = 0;
  private digits = 0;
  private sawCR = false;

  /** The last chunk and its trailer section have been read: the body is complete. */
  get done(): boolean {
    return this.state === DONE;
  }

  /** For the next body. */
  reset(): void {
    this.state = SIZE;
    this.remaining = 0;
    this.digits = 0;
    this.sawCR = false;
    this.error = undefined;
    this.dataBytes = 0;
  }

  /**
   * Read buf[start, end): returns where reading stopped — `end`, or just past the body once it is
   * complete (`done`), or at the byte that is malformed (`error` says why; nothing more is read).
   */
  read(buf: Uint8Array, start: number, end: number): number {
    let p = start;
    this.dataBytes = 0;
    while (p < end && this.state !== DONE) {
      const c = buf[p]!;
      switch (this.state) {
        case SIZE: {
          const d = hexDigit(c);
          if (d >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too large', p);
            this.remaining = this.remaining * 16 + d;
          } else if (this.digits === 0) {
            return this.fail('bad chunk size', p);
          } else if (c === LF) {
            this.state = this.remaining === 0 ? TRAILER_START : DATA;
          } else if (c === CR || c === SEMICOLON || c === SP || c === HTAB) {
            this.state = EXT;
          } else {
            return this.fail('bad chunk size', p);
          }
          p++;
          break;
        }
        case EXT:
          if (c === LF) this.state = this.remaining === 0 ? TRAILER_START : DATA;
          p++;
          break;
        case DATA: {
          const n = Math.min(this.remaining, end - p);
          p += n;
          this.remaining -= n;
          this.dataBytes += n;
          if (this.remaining === 0) {
            this.state = DATA_END;
            this.sawCR = false;
          }
          break;
        }
        case DATA_END:
          if (c === CR && !this.sawCR) {
            this.sawCR = true;
          } else if (c === LF) {
            this.state = SIZE;
            this.digits = 0;
            this.remaining = 0;
          } else {
            return this.fail('missing CRLF after chunk data', p);
          }
          p++;
          break;
        case TRAILER_START:
          // An empty line ends the trailer section; CR before it is optional.
          if (c === LF) this.state = DONE;
          else if (c !== CR) this.state = TRAILER_LINE;
          p++;
          break;
        default: // TRAILER_LINE
          if (c === LF) this.state = TRAILER_START;
          p++;
          break;
      }
    }
    return p;
  }

  private fail(reason: string, at: number): number {
    this.error = reason;
    return at;
  }
}
