// An incremental HTTP/1.x response parser for the load generator's hot path: bytes in, one call per
// complete response out, no allocation per response, every input handled (errors are reported, never thrown).

import { ChunkedBody } from './chunked-body.ts';
import { MAX_HEAD_BYTES, MAX_HEAD_TEXT } from './head-limit.ts';

// Parser states. Plain numbers: the type stripper accepts no enums, and the switch stays cheap.
const S_STATUS = 0; // matching "HTTP/1."
const S_STATUS_MINOR = 1;
const S_STATUS_SP = 2;
const S_STATUS_CODE = 3;
const S_STATUS_REST = 4; // reason phrase, up to LF
const S_HDR_START = 5; // start of a header line, or the blank line ending the head
const S_HDR_NAME = 6;
const S_HDR_VALUE_WS = 7;
const S_HDR_VALUE = 8;
const S_HDR_SKIP = 9; // the rest of a header we do not need
const S_HEAD_END_LF = 10; // saw CR of the blank line
const S_BODY_CL = 11;
const S_BODY_EOF = 12; // no length: the body ends when the connection closes
const S_CHUNKED = 13; // the body's chunks and trailer, read by ChunkedBody
const S_HDR_SKIP_NAME = 19; // inside a header name that is not one of ours
const S_ERROR = 20;

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const COMMA = 44;

const HTTP_1 = [72, 84, 84, 80, 47, 49, 46]; // "HTTP/1."

// Headers that decide where a response ends. Bit masks let one pass track all three candidates.
const H_CONTENT_LENGTH = 1;
const H_TRANSFER_ENCODING = 2;
const H_CONNECTION = 4;
const CONTENT_LENGTH = new TextEncoder().encode('content-length');
const TRANSFER_ENCODING = new TextEncoder().encode('transfer-encoding');
const CONNECTION = new TextEncoder().encode('connection');

export { MAX_HEAD_BYTES };

export type ResponseHandler = (status: number, keepAlive: boolean, bodyBytes: number) => void;

export class ResponseParser {
  /** Why the last execute() failed; undefined while the stream is sound. */
  error: string | undefined;
  /** The request being answered was HEAD: responses carry no body whatever their headers say. */
  head = false;

  private state = S_STATUS;
  private matched = 0;
  private minor = 1;
  private status = 0;
  private headBytes = 0;
  private contentLength = -1;
  private chunked = false;
  private hasTransferEncoding = false;
  private connClose = false;
  private connKeepAlive = false;
  private candidates = 0;
  private nameLen = 0;
  private headerKind = 0;
  private value = new Uint8Array(128);
  private valueLen = 0;
  private clValue = 0;
  private clDigits = 0;
  private remaining = 0;
  private readonly chunks = new ChunkedBody();
  private bodyBytes = 0;
  private readonly onResponse: ResponseHandler;
  private executing = false;
  private dropRest = false;

  constructor(onResponse: ResponseHandler) {
    this.onResponse = onResponse;
  }

  /** Whether the parser is between responses (nothing of the next one has arrived). */
  get idle(): boolean {
    return this.state === S_STATUS && this.matched === 0;
  }

  /** Parse buf[start, end). Returns false on a protocol error (see `error`); the stream is then dead. */
  execute(buf: Uint8Array, start: number, end: number): boolean {
    this.dropRest = false;
    this.executing = true;
    const ok = this.run(buf, start, end);
    this.executing = false;
    this.dropRest = false;
    return ok;
  }

  private run(buf: Uint8Array, start: number, end: number): boolean {
    let p = start;
    // A handler that reset() the parser (its connection is done, a new one begins) ends the
    // input: what is left of it belongs to the old stream.
    while (p < end && !this.dropRest) {
      const c = buf[p]!;
      switch (this.state) {
        case S_STATUS:
          if (this.matched === 0) {
            const q = this.fastHead(buf, p, end);
            if (q >= 0) {
              p = q;
              continue;
            }
          }
          if (c !== HTTP_1[this.matched]) return this.fail('not an HTTP/1.x status line');
          if (++this.matched === HTTP_1.length) this.state = S_STATUS_MINOR;
          p++;
          break;
        case S_STATUS_MINOR:
          if (c !== 48 && c !== 49) return this.fail('unsupported HTTP version');
          this.minor = c - 48;
          this.state = S_STATUS_SP;
          p++;
          break;
        case S_STATUS_SP:
          if (c !== SP) return this.fail('bad status line');
          this.state = S_STATUS_CODE;
          this.status = 0;
          this.matched = 0;
          p++;
          break;
        case S_STATUS_CODE:
          if (this.matched < 3) {
            if (c < 48 || c > 57) return this.fail('bad status code');
            this.status = this.status * 10 + (c - 48);
            this.matched++;
          } else if (c === SP) {
            this.state = S_STATUS_REST;
          } else if (c === LF) {
            this.state = S_HDR_START;
          } else if (c !== CR) {
            return this.fail('bad status code');
          }
          p++;
          break;
        case S_STATUS_REST: // the reason phrase and headers we do not need: both run to the LF
        case S_HDR_SKIP: {
          const from = p;
          while (p < end && buf[p] !== LF) p++;
          this.headBytes += p - from;
          if (p < end) {
            this.state = S_HDR_START;
            p++;
          }
          break;
        }
        case S_HDR_START:
          if (c === LF) {
            p++;
            if (!this.endOfHead()) return false;
          } else if (c === CR) {
            this.state = S_HEAD_END_LF;
            p++;
          } else if (c === SP || c === HTAB || c === COLON) {
            return this.fail('bad header line');
          } else {
            // Only three headers matter; their first letters pick the candidates.
            const lower = c | 32;
            this.candidates = lower === 99 ? H_CONTENT_LENGTH | H_CONNECTION : lower === 116 ? H_TRANSFER_ENCODING : 0;
            this.nameLen = 0;
            this.state = S_HDR_NAME;
          }
          break;
        case S_HEAD_END_LF:
          if (c !== LF) return this.fail('bad line ending');
          p++;
          if (!this.endOfHead()) return false;
          break;
        case S_HDR_NAME:
          if (this.candidates === 0) {
            // A header we do not need: run to its colon, then skip its value.
            const from = p;
            while (p < end && buf[p] !== COLON && buf[p] !== LF) p++;
            this.headBytes += p - from;
            if (p === end) break;
            if (buf[p] === LF) return this.fail('bad header name');
            this.state = S_HDR_SKIP;
            p++;
            break;
          }
          if (c === COLON) {
            const n = this.nameLen;
            const k = this.candidates;
            this.headerKind =
              k & H_CONTENT_LENGTH && n === 14
                ? H_CONTENT_LENGTH
                : k & H_CONNECTION && n === 10
                  ? H_CONNECTION
                  : k & H_TRANSFER_ENCODING && n === 17
                    ? H_TRANSFER_ENCODING
                    : 0;
            this.valueLen = 0;
            this.state = S_HDR_VALUE_WS;
          } else if (c === LF || c === CR || c === SP || c === HTAB) {
            return this.fail('bad header name');
          } else {
            const lower = c >= 65 && c <= 90 ? c | 32 : c;
            const i = this.nameLen++;
            if (this.candidates & H_CONTENT_LENGTH && CONTENT_LENGTH[i] !== lower) this.candidates &= ~H_CONTENT_LENGTH;
            if (this.candidates & H_CONNECTION && CONNECTION[i] !== lower) this.candidates &= ~H_CONNECTION;
            if (this.candidates & H_TRANSFER_ENCODING && TRANSFER_ENCODING[i] !== lower)
              this.candidates &= ~H_TRANSFER_ENCODING;
            if (this.candidates === 0) this.state = S_HDR_SKIP_NAME;
          }
          p++;
          break;
        case S_HDR_SKIP_NAME:
          // Started like one of ours but is not: same as an unknown header.
          if (c === COLON) this.state = S_HDR_SKIP;
          else if (c === LF) return this.fail('bad header name');
          p++;
          break;
        case S_HDR_VALUE_WS:
          if (c === SP || c === HTAB) {
            p++;
            break;
          }
          this.state = this.headerKind === 0 ? S_HDR_SKIP : S_HDR_VALUE;
          if (this.headerKind === H_CONTENT_LENGTH) {
            this.clValue = 0;
            this.clDigits = 0;
          }
          break;
        case S_HDR_VALUE:
          if (c === LF) {
            if (!this.endOfHeader()) return false;
            this.state = S_HDR_START;
          } else if (this.headerKind === H_CONTENT_LENGTH) {
            if (c >= 48 && c <= 57) {
              if (this.valueLen > 0) return this.fail('bad Content-Length');
              this.clValue = this.clValue * 10 + (c - 48);
              if (++this.clDigits > 15) return this.fail('Content-Length too large');
            } else if (c === SP || c === HTAB || c === CR) {
              if (this.clDigits > 0) this.valueLen = 1; // trailing space: no digit may follow
            } else {
              return this.fail('bad Content-Length');
            }
          } else if (c !== CR && this.valueLen < this.value.length) {
            this.value[this.valueLen++] = c >= 65 && c <= 90 ? c | 32 : c;
          }
          p++;
          break;
        case S_BODY_CL: {
          const n = Math.min(this.remaining, end - p);
          p += n;
          this.remaining -= n;
          this.bodyBytes += n;
          if (this.remaining === 0) this.complete(true);
          break;
        }
        case S_BODY_EOF:
          this.bodyBytes += end - p;
          p = end;
          break;
        case S_CHUNKED: {
          const chunks = this.chunks;
          p = chunks.read(buf, p, end);
          this.bodyBytes += chunks.dataBytes;
          if (chunks.error !== undefined) return this.fail(chunks.error);
          if (chunks.done) this.complete(true);
          break;
        }
        default:
          return false;
      }
      // The head's size, counted byte by byte here and in bulk by the scanning states above.
      if ((this.state < S_BODY_CL || this.state === S_HDR_SKIP_NAME) && ++this.headBytes > MAX_HEAD_BYTES) {
        return this.fail(`response head larger than ${MAX_HEAD_TEXT}`);
      }
    }
    return true;
  }

  /**
   * A whole response head in buf[start, end), parsed in one pass (the usual case: a response
   * arrives in one read). Returns where the head ends, the response's framing decided as
   * endOfHead() decides it; or -1, having changed nothing, to leave the head to the state machine:
   * when the head is not all here, or has anything unusual in it (the state machine then decides,
   * errors included, so both paths accept and reject the same streams).
   */
  private fastHead(buf: Uint8Array, start: number, end: number): number {
    // "HTTP/1.1 200 \r\n\r\n" is the shortest head this path takes.
    if (end - start < 17) return -1;
    let p = start;
    if (
      buf[p] !== 72 ||
      buf[p + 1] !== 84 ||
      buf[p + 2] !== 84 ||
      buf[p + 3] !== 80 ||
      buf[p + 4] !== 47 ||
      buf[p + 5] !== 49 ||
      buf[p + 6] !== 46
    ) {
      return -1;
    }
    const minor = buf[p + 7]! - 48;
    const d0 = buf[p + 9]! - 48;
    const d1 = buf[p + 10]! - 48;
    const d2 = buf[p + 11]! - 48;
    if ((minor !== 0 && minor !== 1) || buf[p + 8] !== SP || buf[p + 12] !== SP) return -1;
    if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return -1;
    p += 13;
    while (p < end && buf[p] !== LF) p++; // the reason phrase
    if (p === end) return -1;
    p++;
    // Headers. Only three matter; their effects are idempotent, so a head given up halfway is
    // parsed again from its start by the state machine with the same outcome.
    for (;;) {
      if (p >= end) return this.giveUp();
      let c = buf[p]!;
      if (c === LF) {
        p++;
        break;
      }
      if (c === CR) {
        if (p + 1 >= end || buf[p + 1] !== LF) return this.giveUp();
        p += 2;
        break;
      }
      if (c === COLON) return this.giveUp();
      const name = p;
      // Printable bytes up to the colon; a blank or control byte (line ends too) is unusual.
      while (p < end && (c = buf[p]!) !== COLON && c > SP) p++;
      if (p === end || c !== COLON) return this.giveUp();
      const nameLen = p - name;
      p++;
      while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
      const value = p;
      while (p < end && buf[p] !== LF) p++;
      if (p === end) return this.giveUp();
      const valueEnd = p;
      p++;
      const first = buf[name]! | 32;
      if (first === 99 && nameLen === 14 && sameName(buf, name, CONTENT_LENGTH)) {
        if (!this.fastContentLength(buf, value, valueEnd)) return this.giveUp();
      } else if (
        (first === 99 && nameLen === 10 && sameName(buf, name, CONNECTION)) ||
        (first === 116 && nameLen === 17 && sameName(buf, name, TRANSFER_ENCODING))
      ) {
        const v = this.value;
        let n = 0;
        for (let i = value; i < valueEnd && n < v.length; i++) {
          const b = buf[i]!;
          if (b !== CR) v[n++] = b >= 65 && b <= 90 ? b | 32 : b;
        }
        this.valueLen = n;
        this.headerKind = nameLen === 10 ? H_CONNECTION : H_TRANSFER_ENCODING;
        this.endOfHeader();
      }
    }
    // Near the size limit the state machine decides, byte for byte.
    if (p - start > MAX_HEAD_BYTES - 1024) return this.giveUp();
    // Both framings: an error, said by the state machine (endOfHead).
    if (this.hasTransferEncoding && this.contentLength >= 0) return this.giveUp();
    this.minor = minor;
    this.status = d0 * 100 + d1 * 10 + d2;
    this.matched = 0;
    this.endOfHead();
    return p;
  }

  /** A Content-Length value as S_HDR_VALUE takes it: digits, then only blanks. */
  private fastContentLength(buf: Uint8Array, from: number, to: number): boolean {
    let v = 0;
    let digits = 0;
    let trailing = false;
    for (let i = from; i < to; i++) {
      const c = buf[i]!;
      if (c >= 48 && c <= 57) {
        if (trailing || ++digits > 15) return false;
        v = v * 10 + (c - 48);
      } else if (c === SP || c === HTAB || c === CR) {
        if (digits > 0) trailing = true;
      } else {
        return false;
      }
    }
    if (digits === 0 || (this.contentLength >= 0 && this.contentLength !== v)) return false;
    this.contentLength = v;
    return true;
  }

  private giveUp(): number {
    this.resetMessage();
    return -1;
  }

  /**
   * The connection closed. Completes a response whose body runs to the end of the stream; returns
   * false when a response was cut off (the error says so).
   */
  finish(): boolean {
    if (this.state === S_BODY_EOF) {
      this.complete(false);
      return true;
    }
    if (this.state === S_ERROR) return false;
    if (this.idle) return true;
    return this.fail('connection closed before the response was complete');
  }

  /** Forget everything, for a new connection (from a response handler too: see execute). */
  reset(): void {
    if (this.executing) this.dropRest = true;
    this.state = S_STATUS;
    this.matched = 0;
    this.error = undefined;
    this.resetMessage();
  }

  private resetMessage(): void {
    this.headBytes = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.hasTransferEncoding = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.remaining = 0;
    this.bodyBytes = 0;
  }

  private fail(reason: string): false {
    this.error = reason;
    this.state = S_ERROR;
    return false;
  }

  private endOfHeader(): boolean {
    const v = this.value;
    const len = this.valueLen;
    if (this.headerKind === H_CONTENT_LENGTH) {
      if (this.clDigits === 0) return this.fail('bad Content-Length');
      if (this.contentLength >= 0 && this.contentLength !== this.clValue)
        return this.fail('conflicting Content-Length');
      this.contentLength = this.clValue;
    } else if (this.headerKind === H_TRANSFER_ENCODING) {
      this.hasTransferEncoding = true;
      // Chunked only when it is the last coding applied.
      this.chunked = endsWithToken(v, len, CHUNKED);
    } else if (this.headerKind === H_CONNECTION) {
      // The one-token values servers send, first; any list the long way.
      if (isOnly(v, len, CLOSE)) this.connClose = true;
      else if (isOnly(v, len, KEEP_ALIVE)) this.connKeepAlive = true;
      else {
        if (hasToken(v, len, CLOSE)) this.connClose = true;
        if (hasToken(v, len, KEEP_ALIVE)) this.connKeepAlive = true;
      }
    }
    return true;
  }

  private endOfHead(): boolean {
    // Both framings at once is how request smuggling starts; llhttp refuses it whatever the status.
    if (this.hasTransferEncoding && this.contentLength >= 0)
      return this.fail('Transfer-Encoding together with Content-Length');
    const s = this.status;
    if (s >= 100 && s < 200 && s !== 101) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      this.resetMessage();
      this.state = S_STATUS;
      this.matched = 0;
      return true;
    }
    if (this.head || s === 204 || s === 304 || s === 101) {
      this.complete(s !== 101);
    } else if (this.hasTransferEncoding) {
      if (this.chunked) {
        this.state = S_CHUNKED;
        this.chunks.reset();
      } else {
        this.state = S_BODY_EOF; // a coding we cannot frame: read to the end (RFC 9112 6.3)
      }
    } else if (this.contentLength >= 0) {
      this.remaining = this.contentLength;
      if (this.remaining === 0) this.complete(true);
      else this.state = S_BODY_CL;
    } else {
      this.state = S_BODY_EOF;
    }
    return true;
  }

  private complete(framed: boolean): void {
    const keepAlive = framed && (this.minor === 1 ? !this.connClose : this.connKeepAlive && !this.connClose);
    const status = this.status;
    const bodyBytes = this.bodyBytes;
    this.resetMessage();
    this.state = S_STATUS;
    this.matched = 0;
    this.onResponse(status, keepAlive, bodyBytes);
  }
}

const CHUNKED = new TextEncoder().encode('chunked');
const CLOSE = new TextEncoder().encode('close');
const KEEP_ALIVE = new TextEncoder().encode('keep-alive');

/** Whether the header name at buf[at] is `lower` (same length), letters in any case. */
function sameName(buf: Uint8Array, at: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = buf[at + i]!;
    if ((c >= 65 && c <= 90 ? c | 32 : c) !== lower[i]) return false;
  }
  return true;
}

// Token checks over a lowercased header value, without strings or closures: Connection comes
// with nearly every response, so this runs on the hot path. Returns whether any comma-separated
// token equals `token` (`lastOnly`: whether the last one does).
function matchToken(v: Uint8Array, len: number, token: Uint8Array, lastOnly: boolean): boolean {
  let found = false;
  let i = 0;
  while (i <= len) {
    let j = i;
    while (j < len && v[j] !== COMMA) j++;
    let a = i;
    let b = j;
    while (a < b && (v[a] === SP || v[a] === HTAB)) a++;
    while (b > a && (v[b - 1] === SP || v[b - 1] === HTAB)) b--;
    let same = b - a === token.length;
    for (let k = 0; same && k < token.length; k++) same = v[a + k] === token[k];
    if (lastOnly) found = same;
    else if (same) return true;
    i = j + 1;
  }
  return found;
}

function isOnly(v: Uint8Array, len: number, token: Uint8Array): boolean {
  if (len !== token.length) return false;
  for (let i = 0; i < len; i++) if (v[i] !== token[i]) return false;
  return true;
}

function hasToken(v: Uint8Array, len: number, token: Uint8Array): boolean {
  return matchToken(v, len, token, false);
}

function endsWithToken(v: Uint8Array, len: number, token: Uint8Array): boolean {
  return matchToken(v, len, token, true);
}
