// What a bench run points at: an http(s) URL turned into host, port and TLS settings, checked up front.

import { isIP } from 'node:net';
import { UsageError } from '../errors.ts';

export interface Target {
  url: URL;
  tls: boolean;
  /** Host to connect to, without IPv6 brackets. */
  host: string;
  port: number;
  /** SNI name for TLS: the host unless it is an IP address. */
  servername?: string;
}

export function parseTarget(raw: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`'${raw}' is not a URL: give one like http://127.0.0.1:8080/path`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`'${url.protocol.slice(0, -1)}' is not supported: bench speaks http and https`);
  }
  if (url.username || url.password) {
    throw new UsageError('credentials in the URL are not sent: pass them with -H "Authorization: …"');
  }
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  return { url, tls, host, port, servername: isIP(host) ? undefined : host };
}
