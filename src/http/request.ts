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

export function buildRequest(spec: RequestSpec): Buffer {
  if (!TOKEN.test(spec.method)) throw new UsageError(`-m: '${spec.method}' is not a valid HTTP method`);
  const has = (name: string) => spec.headers.some(([n]) => n.toLowerCase() === name);
  checkFraming(spec);
  const lines = [`${spec.method} ${spec.url.pathname}${spec.url.search} HTTP/1.1`];
  if (!has('host')) lines.push(`Host: ${spec.url.host}`);
  for (const [name, value] of spec.headers) lines.push(`${name}: ${value}`);
  if (spec.body && !has('content-length') && !has('transfer-encoding')) lines.push(`Content-Length: ${spec.body.length}`);
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
  for (const v of lengths) {
    if (!/^\d+$/.test(v) || Number(v) !== bodyBytes) {
      throw new UsageError(
        `-H "Content-Length: ${v}" does not match the body (${bodyBytes} bytes${spec.body ? '' : ': no -b or --body-file'}): leave it out and bench sends the right one`,
      );
    }
  }
}
