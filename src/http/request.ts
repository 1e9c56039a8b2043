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
  const lines = [`${spec.method} ${spec.url.pathname}${spec.url.search} HTTP/1.1`];
  if (!has('host')) lines.push(`Host: ${spec.url.host}`);
  for (const [name, value] of spec.headers) lines.push(`${name}: ${value}`);
  if (spec.body && !has('content-length')) lines.push(`Content-Length: ${spec.body.length}`);
  if (!spec.keepAlive && !has('connection')) lines.push('Connection: close');
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return spec.body ? Buffer.concat([head, spec.body]) : head;
}
