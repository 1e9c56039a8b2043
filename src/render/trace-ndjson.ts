// `tcplens trace --json` output written straight into bytes: each event as JSON.stringify would
// write traceEventJson(e) (render/trace.ts), without building a string per event. A busy host makes
// tens of thousands of events a second; building each line as a string, joining them and encoding
// the result to UTF-8 took most of the Node process's time per event.

import type { TraceEvent } from '../trace/event.ts';

const INITIAL_BYTES = 64 * 1024;
/** The most a line takes beyond its variable strings: keys, numbers, the time, constant values. */
const FIXED_BYTES = 512;
/** Strings that may need escaping (reasons, kernel functions): their JSON bytes are kept, up to this many. */
const MAX_CACHED = 1024;

const NULL = 'null';

// The constant runs of a line, as bytes: keys, and the values that come from a few (types,
// families, pairs of states), each with the keys around it.
const COMM_KEY = Buffer.from(',"comm":');
const SPORT_KEY = Buffer.from('","sport":');
const DADDR_KEY = Buffer.from(',"daddr":"');
const DPORT_KEY = Buffer.from('","dport":');
const SK_KEY = Buffer.from(',"sk":');
const TYPE_PIECES = new Map<string, Buffer>();
const FAMILY_PIECES = new Map<string, Buffer>();
const STATE_PIECES = new Map<string | null, Map<string | null, Buffer>>();

const quote = (s: string | null) => (s === null ? NULL : `"${s}"`);

/** A piece made the first time its key comes: a string as its bytes. */
function piece<K>(pieces: Map<K, Buffer>, key: K, text: string): Buffer;
function piece<K, V>(pieces: Map<K, V>, key: K, value: V): V;
function piece<K>(pieces: Map<K, unknown>, key: K, value: unknown): unknown {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  pieces.set(key, v);
  return v;
}

export class TraceNdjsonWriter {
  #buf = Buffer.allocUnsafe(INITIAL_BYTES);
  #at = 0;
  // The time down to the second: consecutive events share it.
  #second = Number.NaN;
  #isoPrefix = Buffer.alloc(0);
  // The process name of one event after another is mostly the same: its JSON bytes are kept.
  #comm: string | null = null;
  #commJson: Buffer = Buffer.from(NULL);
  #cached = new Map<string, Buffer>();
  // The addresses of consecutive events repeat: the last two are kept as bytes.
  #addr0 = '';
  #addr0Bytes = Buffer.alloc(0);
  #addr1 = '';
  #addr1Bytes = Buffer.alloc(0);

  /** Bytes waiting to be taken. */
  get size(): number {
    return this.#at;
  }

  /** Appends text as it is (a line built elsewhere: a lost-events notice, the summary). */
  text(s: string): void {
    this.#reserve(s.length * 3);
    this.#at += this.#buf.write(s, this.#at, 'utf8');
  }

  /** The line of one event as a string (for a caller that wants one line, not a stream). */
  line(e: TraceEvent): string {
    const from = this.#at;
    this.event(e);
    const text = this.#buf.toString('utf8', from, this.#at);
    this.#at = from;
    return text;
  }

  /** Appends the event's NDJSON line: JSON.stringify(traceEventJson(e)) and a newline. */
  event(e: TraceEvent): void {
    if (e.comm !== this.#comm) {
      this.#comm = e.comm;
      this.#commJson = Buffer.from(e.comm === null ? NULL : JSON.stringify(e.comm));
    }
    const reason = e.reason === undefined ? undefined : this.#json(e.reason);
    const where = e.type === 'drop' && e.where !== undefined ? this.#json(e.where) : undefined;
    this.#reserve(
      FIXED_BYTES +
        this.#commJson.length +
        (reason?.length ?? 0) +
        (where?.length ?? 0) +
        3 * (e.saddr.length + e.daddr.length + e.sk.length),
    );
    this.#time(e.timeMs);
    this.#bytes(TYPE_PIECES.get(e.type) ?? piece(TYPE_PIECES, e.type, `","type":"${e.type}","pid":`));
    this.#number(e.pid);
    this.#bytes(COMM_KEY);
    this.#bytes(this.#commJson);
    this.#bytes(FAMILY_PIECES.get(e.family) ?? piece(FAMILY_PIECES, e.family, `,"family":"${e.family}","saddr":"`));
    this.#address(e.saddr);
    this.#bytes(SPORT_KEY);
    this.#number(e.sport);
    this.#bytes(DADDR_KEY);
    this.#address(e.daddr);
    this.#bytes(DPORT_KEY);
    this.#number(e.dport);
    const row = STATE_PIECES.get(e.oldState) ?? piece(STATE_PIECES, e.oldState, new Map<string | null, Buffer>());
    this.#bytes(
      row.get(e.newState) ??
        piece(row, e.newState, `,"oldState":${quote(e.oldState)},"newState":${quote(e.newState)},"ms":`),
    );
    this.#number(e.ms);
    this.#bytes(SK_KEY);
    this.#quoted(e.sk === '0' ? null : e.sk);
    if (e.derived) this.#ascii(',"derived":true');
    if (e.sampled) this.#ascii(',"sampled":true');
    if (reason !== undefined) {
      this.#ascii(',"reason":');
      this.#bytes(reason);
    }
    if (e.type === 'drop') {
      this.#ascii(',"direction":"');
      this.#ascii(String(e.direction));
      this.#ascii('","where":');
      if (where === undefined) this.#ascii(NULL);
      else this.#bytes(where);
      if (e.noise) this.#ascii(',"noise":true');
    }
    if (e.type === 'life') {
      this.#ascii(',"bytesSent":');
      this.#number(e.bytesSent);
      this.#ascii(',"bytesReceived":');
      this.#number(e.bytesReceived);
    }
    this.#ascii('}\n');
  }

  /** Everything appended since the last take, as bytes of their own (the writer goes on in a new buffer). */
  take(): Buffer {
    const out = this.#buf.subarray(0, this.#at);
    this.#buf = Buffer.allocUnsafe(Math.max(INITIAL_BYTES, this.#buf.length >> 1));
    this.#at = 0;
    return out;
  }

  #reserve(bytes: number): void {
    if (this.#at + bytes <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + bytes));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
  }

  #json(s: string): Buffer {
    let b = this.#cached.get(s);
    if (b === undefined) {
      if (this.#cached.size >= MAX_CACHED) this.#cached.clear();
      this.#cached.set(s, (b = Buffer.from(JSON.stringify(s))));
    }
    return b;
  }

  /** A string that needs no escaping (a socket id), one byte per character while it is ASCII. */
  #ascii(s: string): void {
    const buf = this.#buf;
    let at = this.#at;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        at += buf.write(s.slice(i), at, 'utf8');
        break;
      }
      buf[at++] = c;
    }
    this.#at = at;
  }

  #bytes(b: Buffer): void {
    this.#buf.set(b, this.#at);
    this.#at += b.length;
  }

  #quoted(s: string | null): void {
    if (s === null) {
      this.#ascii(NULL);
      return;
    }
    this.#buf[this.#at++] = 34; /* " */
    this.#ascii(s);
    this.#buf[this.#at++] = 34;
  }

  /** A number as `${n}` prints it: safe integers and whole microseconds in ms digit by digit, anything else through String(). */
  #number(n: number | null | undefined): void {
    if (n === null || n === undefined) {
      this.#ascii(String(n));
      return;
    }
    if (Number.isSafeInteger(n)) {
      this.#digits(n);
      return;
    }
    // A whole number of µs in ms (as trace's durations are) prints as its decimal with the trailing
    // zeros dropped: with at most 15 significant digits, no shorter decimal reads back as the same double.
    const us = Math.round(n * 1000);
    if (us / 1000 !== n || Math.abs(us) >= 1e15) {
      this.#ascii(String(n));
      return;
    }
    if (us < 0) this.#buf[this.#at++] = 45; /* - */
    const abs = Math.abs(us);
    const whole = Math.floor(abs / 1000);
    let frac = abs - whole * 1000;
    this.#digits(whole);
    this.#buf[this.#at++] = 46; /* . */
    let width = 3;
    while (frac % 10 === 0) {
      frac /= 10;
      width--;
    }
    for (let d = 10 ** (width - 1); d >= 1; d /= 10) this.#buf[this.#at++] = 48 + (Math.floor(frac / d) % 10);
  }

  /** A safe integer's decimal digits. */
  #digits(n: number): void {
    const buf = this.#buf;
    if (n < 0) {
      buf[this.#at++] = 45;
      n = -n;
    }
    if (n < 10) {
      buf[this.#at++] = 48 + n;
      return;
    }
    let len = 1;
    for (let p = 10; p <= n; p *= 10) len++;
    let at = this.#at + len;
    this.#at = at;
    while (n > 0) {
      const q = Math.floor(n / 10);
      buf[--at] = 48 + (n - q * 10);
      n = q;
    }
  }

  /** The time key and the ISO-8601 time to the millisecond (as Date#toISOString of a positive time). */
  #time(timeMs: number): void {
    const second = Math.floor(timeMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#isoPrefix = Buffer.from(`{"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`);
    }
    this.#bytes(this.#isoPrefix);
    const ms = Math.floor(timeMs - second * 1000);
    if (ms >= 0 && ms < 1000) {
      const buf = this.#buf;
      buf[this.#at++] = 48 + Math.floor(ms / 100);
      buf[this.#at++] = 48 + (Math.floor(ms / 10) % 10);
      buf[this.#at++] = 48 + (ms % 10);
    } else {
      this.#ascii(`${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`);
    }
    this.#buf[this.#at++] = 90; /* Z */
  }

  /** An address (never needs escaping). */
  #address(s: string): void {
    if (s !== this.#addr0 && s !== this.#addr1) {
      this.#addr1 = this.#addr0;
      this.#addr1Bytes = this.#addr0Bytes;
      this.#addr0 = s;
      this.#addr0Bytes = Buffer.from(s);
    }
    this.#bytes(s === this.#addr0 ? this.#addr0Bytes : this.#addr1Bytes);
  }
}
