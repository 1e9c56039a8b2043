// Which Host headers the dashboard answers: only names of the address it is bound to, so that a web
// page whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) cannot read this host's state.

import { hostname, networkInterfaces } from 'node:os';
import { isLoopbackHost } from '../text/loopback.ts';
import { bracketHost } from '../text/host-port.ts';

export interface HostGuard {
  /** host:port strings accepted, lower case, IPv6 in brackets. */
  readonly allowed: ReadonlySet<string>;
  allows(hostHeader: string | undefined): boolean;
  /**
   * Whether a request's Origin header (sent by browsers on cross-origin requests and on POSTs) is a
   * page of this server: the same host as the request's Host header, or one the guard allows.
   * No Origin (curl, a same-origin GET) passes; "null" (a sandboxed or file: page) does not.
   */
  allowsOrigin(origin: string | undefined, hostHeader: string | undefined): boolean;
}

export { isLoopbackHost as isLoopback };

/** Split a Host header into name and port; undefined when it is malformed. */
export function parseHostHeader(header: string): { name: string; port: number | undefined } | undefined {
  const h = header.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/.exec(h);
  if (!m) return undefined;
  return { name: m[1]!, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * The guard for a server bound to `address`:`port`. Loopback: its own address and localhost.
 * A wildcard (0.0.0.0, ::): every address of this host's interfaces and its host name. `extraNames`
 * are names the user allowed (a reverse proxy's, for example).
 */
export function hostGuard(address: string, port: number, extraNames: string[] = []): HostGuard {
  const names = new Set<string>(extraNames.map((n) => bracketHost(n.toLowerCase())));
  if (address === '0.0.0.0' || address === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const i of list ?? [])
        if (address === '::' || i.family === 'IPv4') names.add(bracketHost(i.address.toLowerCase()));
    }
    names.add(hostname().toLowerCase());
    names.add('localhost');
  } else {
    names.add(bracketHost(address.toLowerCase()));
    if (isLoopbackHost(address)) names.add('localhost');
  }
  const allowed = new Set([...names].map((n) => `${n}:${port}`));
  return {
    allowed,
    allows(header) {
      if (header === undefined) return false;
      const h = parseHostHeader(header);
      if (!h) return false;
      // Browsers leave out the port when it is the scheme's default.
      const p = h.port ?? 80;
      return allowed.has(`${h.name}:${p}`);
    },
    allowsOrigin(origin, hostHeader) {
      if (origin === undefined) return true;
      let u: URL;
      try {
        u = new URL(origin);
      } catch {
        return false;
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
      if (hostHeader !== undefined && u.host === hostHeader.trim().toLowerCase()) return true;
      return allowed.has(`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`);
    },
  };
}
