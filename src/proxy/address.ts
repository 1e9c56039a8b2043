// host:port strings as Toxiproxy writes them ("127.0.0.1:8474", "[::1]:80", "localhost:0"): parse and format.

import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isLoopbackAddress } from '../text/loopback.ts';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parse "host:port". An empty host (":8080") and "localhost" mean 127.0.0.1: every server of ours binds
 * loopback unless told otherwise, and Go resolves "localhost" to IPv4 first. Returns a reason on failure.
 */
export function parseHostPort(raw: string, { allowZero = true } = {}): HostPort | string {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return `missing port in address ${raw}`;
  let host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(host) !== 6) return `bad IPv6 address in ${raw}`;
  const port = Number(m[3]);
  if (port > 65535 || (!allowZero && port === 0)) return `invalid port in address ${raw}`;
  if (host === '' || host === 'localhost') host = '127.0.0.1';
  return { host, port };
}

export { formatHostPort } from '../text/host-port.ts';

function sameAddress(a: string, b: string): boolean {
  const plain = (x: string) => (x.toLowerCase().startsWith('::ffff:') ? x.slice(7) : x.toLowerCase());
  return plain(a) === plain(b);
}

/** An address of this host: loopback, or one of its interfaces'. */
function isLocalAddress(address: string): boolean {
  if (isLoopbackAddress(address)) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => sameAddress(i.address, address)));
}

/**
 * Whether dialling `upstream` reaches the listener bound at `listen`: a proxy that forwards to itself
 * multiplies every connection until descriptors run out. Host names are not resolved (a lookup per
 * check would reach the network); the connection cap bounds what such a loop can take.
 */
export function dialsItself(listen: HostPort, upstream: HostPort): boolean {
  if (listen.port !== upstream.port || listen.port === 0) return false;
  if (sameAddress(listen.host, upstream.host)) return true;
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  return wildcard && isIP(upstream.host) !== 0 && isLocalAddress(upstream.host);
}
