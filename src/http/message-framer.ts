// Where HTTP/1.x requests and responses begin and end in a byte stream, for the proxy's HTTP mode:
// heads collected and parsed, bodies framed by Content-Length, chunked coding or the end of the
// connection, each step reported with its offset so that the proxy can act between requests on a
// keep-alive connection. It shares the chunked coding and the head limit with response-parser.ts,
// which the load generator uses: no offsets, no head text, no allocation per response.

import { ChunkedBody } from './chunked-body.ts';
import { MAX_HEAD_BYTES, MAX_HEAD_TEXT } from './head-limit.ts';

export interface MessageHead {
  /** The head's bytes as received, to forward or hold. */
  raw: Buffer;
  method: string;
  status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Connection: close, or HTTP/1.0 without keep-alive. */
  close: boolean;
  /** A 1xx other than 101: the final response follows. */
  interim: boolean;
  /** 101, or a 2xx answer to CONNECT: the connection leaves HTTP. */
  tunnel: boolean;
  /** Expect: 100-continue — the client waits for an answer before it sends the body. */
  expectContinue: boolean;
}

export type Step =
  | { kind: 'more' }
  | { kind: 'head'; end: number; head: MessageHead; bodyless: boolean }
  | { kind: 'body'; end: number; complete: boolean }
  | { kind: 'error'; reason: string; held: Buffer };

const HEAD = 0;
const BODY_LENGTH = 1;
const BODY_EOF = 2;
const CHUNKED = 3;
const DEAD = 4;

const LF = 10;
const CR = 13;

export class MessageFramer {
  private readonly request: boolean;
  private state = HEAD;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes of the current head line seen so far, and whether a non-empty line has been seen. */
  private lineBytes = 0;
  private lastWasCR = false;
  private sawLine = false;
  private remaining = 0;
  private readonly chunks = new ChunkedBody();
  /** For responses: the request being answered (HEAD has no body, CONNECT may tunnel). */
  requestMethod = 'GET';

  constructor(kind: 'request' | 'response') {
    this.request = kind === 'request';
  }

  /** Between messages, with nothing of the next one seen. */
  get atMessageStart(): boolean {
    return this.state === HEAD && this.heldBytes === 0;
  }

  /** The body runs to the end of the connection: the end completes it. */
  get untilClose(): boolean {
    return this.state === BODY_EOF;
  }

  /** Report what buf[pos…] holds next. `more` means all of it went into a head still incomplete. */
  next(buf: Buffer, pos: number): Step {
    switch (this.state) {
      case HEAD:
        return this.head(buf, pos);
      case BODY_LENGTH: {
        const end = pos + Math.min(this.remaining, buf.length - pos);
        this.remaining -= end - pos;
        const complete = this.remaining === 0;
        if (complete) this.state = HEAD;
        return { kind: 'body', end, complete };
      }
      case BODY_EOF:
        return { kind: 'body', end: buf.length, complete: false };
      case DEAD:
        return { kind: 'error', reason: 'the stream is no longer HTTP', held: Buffer.alloc(0) };
      default: {
        const chunks = this.chunks;
        const end = chunks.read(buf, pos, buf.length);
        if (chunks.error !== undefined) return this.fail(chunks.error, buf.subarray(pos));
        if (!chunks.done) return { kind: 'body', end, complete: false };
        this.state = HEAD;
        return { kind: 'body', end, complete: true };
      }
    }
  }

  private head(buf: Buffer, pos: number): Step {
    let p = pos;
    while (p < buf.length) {
      const lf = buf.indexOf(LF, p);
      if (lf < 0) {
        this.lineBytes += buf.length - p;
        this.lastWasCR = buf[buf.length - 1] === CR;
        break;
      }
      const len = this.lineBytes + (lf - p);
      const cr = lf > p ? buf[lf - 1] === CR : this.lastWasCR;
      const empty = len === 0 || (len === 1 && cr);
      this.lineBytes = 0;
      this.lastWasCR = false;
      p = lf + 1;
      if (!empty) this.sawLine = true;
      else if (this.sawLine) {
        // The limit holds for a head that ends in this chunk too, not only for one still growing.
        if (this.heldBytes + (p - pos) > MAX_HEAD_BYTES)
          return this.fail(`head larger than ${MAX_HEAD_TEXT}`, buf.subarray(pos));
        return this.endOfHead(buf, pos, p);
      }
      // An empty line before the start line is tolerated (RFC 9112 2.2) and passed on.
    }
    this.hold(buf.subarray(pos));
    if (this.heldBytes > MAX_HEAD_BYTES) return this.fail(`head larger than ${MAX_HEAD_TEXT}`, Buffer.alloc(0));
    return { kind: 'more' };
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    // The caller may reuse nothing, but copy anyway: a held head outlives the chunk it came in.
    this.held.push(Buffer.from(part));
    this.heldBytes += part.length;
  }

  private fail(reason: string, tail: Buffer): Step {
    const held = Buffer.concat([...this.held, tail]);
    this.held = [];
    this.heldBytes = 0;
    this.state = DEAD;
    return { kind: 'error', reason, held };
  }

  private endOfHead(buf: Buffer, pos: number, end: number): Step {
    const raw = this.heldBytes === 0 ? buf.subarray(pos, end) : Buffer.concat([...this.held, buf.subarray(pos, end)]);
    this.held = [];
    this.heldBytes = 0;
    this.sawLine = false;
    const parsed = this.parse(raw);
    if (typeof parsed === 'string') {
      this.state = DEAD;
      return { kind: 'error', reason: parsed, held: Buffer.concat([raw, buf.subarray(end)]) };
    }
    const { head, framing } = parsed;
    if (framing === 'none' || framing === 'tunnel' || head.interim) {
      this.state = framing === 'tunnel' ? DEAD : HEAD;
      return { kind: 'head', end, head, bodyless: true };
    }
    if (framing === 'chunked') {
      this.state = CHUNKED;
      this.chunks.reset();
    } else if (framing === 'eof') {
      this.state = BODY_EOF;
    } else {
      this.remaining = framing;
      this.state = framing === 0 ? HEAD : BODY_LENGTH;
    }
    return { kind: 'head', end, head, bodyless: framing === 0 };
  }

  /** Head text to a MessageHead and how its body is framed; a string says why it is not HTTP/1.x. */
  private parse(raw: Buffer): { head: MessageHead; framing: number | 'chunked' | 'eof' | 'none' | 'tunnel' } | string {
    const lines = raw.toString('latin1').split('\n');
    let i = 0;
    while (i < lines.length && lines[i]!.replace(/\r$/, '') === '') i++;
    const start = (lines[i++] ?? '').replace(/\r$/, '');
    const head: MessageHead = {
      raw,
      method: '',
      status: 0,
      minor: 1,
      close: false,
      interim: false,
      tunnel: false,
      expectContinue: false,
    };
    if (this.request) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) \S+ HTTP\/1\.([01])$/.exec(start);
      if (!m) return 'not an HTTP/1.x request line';
      head.method = m[1]!;
      head.minor = Number(m[2]);
    } else {
      const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(start);
      if (!m) return 'not an HTTP/1.x status line';
      head.minor = Number(m[1]);
      head.status = Number(m[2]);
    }
    let contentLength = -1;
    let te: string | undefined;
    let keepAlive = false;
    let upgrade = false;
    for (; i < lines.length; i++) {
      const line = lines[i]!.replace(/\r$/, '');
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) return 'bad header line';
      const name = line.slice(0, colon).toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) return 'bad Content-Length';
        const n = Number(value);
        if (contentLength >= 0 && contentLength !== n) return 'conflicting Content-Length';
        contentLength = n;
      } else if (name === 'expect') {
        head.expectContinue = value === '100-continue';
      } else if (name === 'transfer-encoding') {
        te = te === undefined ? value : `${te}, ${value}`;
      } else if (name === 'connection') {
        for (const token of value.split(',')) {
          const t = token.trim();
          if (t === 'close') head.close = true;
          else if (t === 'keep-alive') keepAlive = true;
          else if (t === 'upgrade') upgrade = true;
        }
      }
    }
    if (head.minor === 0 && !keepAlive) head.close = true;
    const chunked = te !== undefined && te.split(',').pop()!.trim() === 'chunked';
    if (this.request) {
      if (te !== undefined) return chunked ? { head, framing: 'chunked' } : 'request body of unknown length';
      // An Upgrade request is framed like any other; the response decides whether the protocol switches.
      void upgrade;
      return { head, framing: Math.max(0, contentLength) };
    }
    const s = head.status;
    if (s === 101 || (this.requestMethod === 'CONNECT' && s >= 200 && s < 300)) {
      head.tunnel = true;
      return { head, framing: 'tunnel' };
    }
    if (s >= 100 && s < 200) {
      head.interim = true;
      return { head, framing: 'none' };
    }
    if (this.requestMethod === 'HEAD' || s === 204 || s === 304) return { head, framing: 'none' };
    if (te !== undefined) return { head, framing: chunked ? 'chunked' : 'eof' };
    if (contentLength >= 0) return { head, framing: contentLength };
    return { head, framing: 'eof' };
  }
}
