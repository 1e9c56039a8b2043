// host:port strings as Toxiproxy writes them ("127.0.0.1:8474", "[::1]:80", "localhost:0"): parse and format.

import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parse "host:port". An empty host (":8080") and "localhost" mean 127.0.0.1: every server of ours binds
 * loopback unless told otherwise, and Go resolves "localhost" to IPv4 first. Returns a reason on failure.
 */
export function parseHostPort(raw: string, { allowZero = true } = {}): HostPort | string {
  const m = /^(?:\[([^\]]*)\]|([^:\[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return `missing port in address ${raw}`;
  let host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(host) !== 6) return `bad IPv6 address in ${raw}`;
  const port = Number(m[3]);
  if (port > 65535 || (!allowZero && port === 0)) return `invalid port in address ${raw}`;
  if (host === '' || host === 'localhost') host = '127.0.0.1';
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}
