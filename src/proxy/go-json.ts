// Request bodies decoded as Go's json.Decoder decodes them (Toxiproxy reads every body with it):
// the first JSON value counts and what follows it is not read, an empty body is "EOF", and a syntax
// error is worded as Go's scanner words it, so that clients matching Toxiproxy's messages work.

import { badRequestBody } from './api-error.ts';

/** Go's quoteChar: the offending character as Go prints it in "invalid character …". */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const q = JSON.stringify(c);
  return `'${q.slice(1, -1)}'`;
}

class SyntaxFault {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/**
 * A scanner of one JSON value following Go's encoding/json state machine. Only used once JSON.parse
 * has failed, to find Go's message, or where the first value ends when something follows it.
 */
class Scanner {
  private readonly text: string;
  pos = 0;
  constructor(text: string) {
    this.text = text;
  }
  private peek(): string | undefined {
    return this.text[this.pos];
  }
  private fail(c: string | undefined, context: string): never {
    throw new SyntaxFault(c === undefined ? 'unexpected EOF' : `invalid character ${quoteChar(c)} ${context}`);
  }
  private skipSpace(): void {
    while (isSpace(this.peek())) this.pos++;
  }
  value(): void {
    this.skipSpace();
    const c = this.peek();
    if (c === '{') {
      this.object();
      return;
    }
    if (c === '[') {
      this.array();
      return;
    }
    if (c === '"') {
      this.string();
      return;
    }
    if (c === '-' || isDigit(c)) {
      this.number();
      return;
    }
    if (c === 't') {
      this.literal('true');
      return;
    }
    if (c === 'f') {
      this.literal('false');
      return;
    }
    if (c === 'n') {
      this.literal('null');
      return;
    }
    this.fail(c, 'looking for beginning of value');
  }
  private object(): void {
    this.pos++;
    this.skipSpace();
    if (this.peek() === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '"') this.fail(this.peek(), 'looking for beginning of object key string');
      this.string();
      this.skipSpace();
      if (this.peek() !== ':') this.fail(this.peek(), 'after object key');
      this.pos++;
      this.value();
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c === '}') return;
      if (c !== ',') this.fail(c, 'after object key:value pair');
    }
  }
  private array(): void {
    this.pos++;
    this.skipSpace();
    if (this.peek() === ']') {
      this.pos++;
      return;
    }
    for (;;) {
      this.value();
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c === ']') return;
      if (c !== ',') this.fail(c, 'after array element');
    }
  }
  private string(): void {
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail(c, '');
      this.pos++;
      if (c === '"') return;
      if (c < ' ') this.fail(c, 'in string literal');
      if (c !== '\\') continue;
      const e = this.peek();
      if (e === undefined) this.fail(e, '');
      this.pos++;
      if (e === 'u') {
        for (let i = 0; i < 4; i++) {
          const h = this.peek();
          if (h === undefined || !/[0-9a-fA-F]/.test(h)) this.fail(h, 'in \\u hexadecimal character escape');
          this.pos++;
        }
      } else if (!'bfnrt\\/"'.includes(e)) this.fail(e, 'in string escape code');
    }
  }
  private number(): void {
    if (this.peek() === '-') {
      this.pos++;
      if (!isDigit(this.peek())) this.fail(this.peek(), 'in numeric literal');
    }
    if (this.peek() === '0') this.pos++;
    else while (isDigit(this.peek())) this.pos++;
    if (this.peek() === '.') {
      this.pos++;
      if (!isDigit(this.peek())) this.fail(this.peek(), 'after decimal point in numeric literal');
      while (isDigit(this.peek())) this.pos++;
    }
    if (this.peek() === 'e' || this.peek() === 'E') {
      this.pos++;
      if (this.peek() === '+' || this.peek() === '-') this.pos++;
      if (!isDigit(this.peek())) this.fail(this.peek(), 'in exponent of numeric literal');
      while (isDigit(this.peek())) this.pos++;
    }
  }
  private literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      const c = this.peek();
      if (c !== word[i]) this.fail(c, `in literal ${word} (expecting ${quoteChar(word[i]!)})`);
      this.pos++;
    }
  }
}

/** The first JSON value of a request body, or ApiError 400 "bad request body: <Go's message>". */
export function decodeBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Below: why, in Go's words, or the value followed by bytes the decoder would not have read.
  }
  if (text.trim() === '') throw badRequestBody('EOF');
  const scanner = new Scanner(text);
  try {
    scanner.value();
  } catch (err) {
    if (err instanceof SyntaxFault) throw badRequestBody(err.message);
    throw err;
  }
  try {
    return JSON.parse(text.slice(0, scanner.pos)) as unknown;
  } catch (err) {
    // The scanner and JSON.parse disagree (a lone surrogate, say): V8's words are the best left.
    throw badRequestBody(`invalid JSON: ${(err as Error).message}`);
  }
}
