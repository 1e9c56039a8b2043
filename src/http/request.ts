// The bytes of one HTTP/1.1 request, built once per run and written as they are for every request.

import { UsageError } from '../errors.ts';

export interface RequestSpec {
  method: string;
  url: URL;
  /** Extra headers in order, as given (-H "Name: value"). */
  headers: [string, string][];
  body?: Uint8Array;
  /** false: ask the server to close after the response (Connection: close). */
  keepAlive: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parse "Name: value" as given to -H. */
export function parseHeader(raw: string): [string, string] {
  const i = raw.indexOf(':');
  if (i <= 0) throw new UsageError(`-H takes "Name: value", not '${raw}'`);
  const name = raw.slice(0, i).trim();
  const value = raw.slice(i + 1).trim();
  if (!TOKEN.test(name)) throw new UsageError(`-H: '${name}' is not a valid header name`);
  if (/[\r\n\0]/.test(value)) throw new UsageError(`-H: the value of ${name} contains a line break or NUL`);
  return [name, value];
}

/** The request's own Connection header asks the server to close after the response. */
export function asksClose(headers: [string, string][] | undefined): boolean {
  return (headers ?? []).some(
    ([n, v]) => n.toLowerCase() === 'connection' && v.split(',').some((t) => t.trim().toLowerCase() === 'close'),
  );
}

export function buildRequest(spec: RequestSpec): Buffer {
  if (!TOKEN.test(spec.method)) throw new UsageError(`-m: '${spec.method}' is not a valid HTTP method`);
  const has = (name: string) => spec.headers.some(([n]) => n.toLowerCase() === name);
  checkFraming(spec);
  const lines = [`${spec.method} ${spec.url.pathname}${spec.url.search} HTTP/1.1`];
  if (!has('host')) lines.push(`Host: ${spec.url.host}`);
  for (const [name, value] of spec.headers) lines.push(`${name}: ${value}`);
  if (spec.body && !has('content-length') && !has('transfer-encoding'))
    lines.push(`Content-Length: ${spec.body.length}`);
  if (!spec.keepAlive && !has('connection')) lines.push('Connection: close');
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return spec.body ? Buffer.concat([head, spec.body]) : head;
}

/**
 * A Content-Length of the user's (-H) must be the body's: more and the server waits for bytes that
 * never come (every request times out), less and the rest of the body reads as the next request.
 */
function checkFraming(spec: RequestSpec): void {
  const bodyBytes = spec.body?.length ?? 0;
  const lengths = spec.headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v);
  const chunked = spec.headers.some(([n]) => n.toLowerCase() === 'transfer-encoding');
  if (lengths.length > 0 && chunked) throw new UsageError('-H: give Content-Length or Transfer-Encoding, not both');
  if (chunked) {
    const codings = spec.headers
      .filter(([n]) => n.toLowerCase() === 'transfer-encoding')
      .map(([, v]) => v)
      .join(',');
    const last = codings
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter(Boolean)
      .at(-1);
    // A request's body ends where its last coding, chunked, says: anything else leaves the server no end to find (RFC 9112 6.3).
    if (last !== 'chunked')
      throw new UsageError(
        `-H "Transfer-Encoding: ${codings}" must end in chunked: a server cannot tell where the body ends`,
      );
    if (!isChunkedBody(spec.body ?? new Uint8Array(0))) {
      throw new UsageError(
        '-H "Transfer-Encoding: chunked" needs a body already framed as chunks (such as 2\\r\\nhi\\r\\n0\\r\\n\\r\\n): leave the header out and bench sends the body with its Content-Length',
      );
    }
  }
  for (const v of lengths) {
    if (!/^\d+$/.test(v) || Number(v) !== bodyBytes) {
      throw new UsageError(
        `-H "Content-Length: ${v}" does not match the body (${bodyBytes} bytes${spec.body ? '' : ': no -b or --body-file'}): leave it out and bench sends the right one`,
      );
    }
  }
}

/** A complete chunked body: size lines (hex, optional extensions), data, the 0 chunk, optional trailers, the empty line. */
export function isChunkedBody(b: Uint8Array): boolean {
  const text = Buffer.from(b).toString('latin1');
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    const m = /^([0-9a-fA-F]{1,15})(;[^\r\n]*)?$/.exec(text.slice(at, eol));
    if (!m) return false;
    const size = parseInt(m[1]!, 16);
    at = eol + 2;
    if (size === 0) break;
    if (text.slice(at + size, at + size + 2) !== '\r\n') return false;
    at += size + 2;
  }
  // Trailers, each a line, then the empty line that ends the body, and nothing after it.
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    if (eol === at) return at + 2 === text.length;
    at = eol + 2;
  }
}
