// One URL, N times: where each request's time goes (DNS, connect, TLS, first byte, transfer),
// whether its connection was reused, and how the server's keep-alive fits the client's.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { UsageError, TcplensError } from '../errors.ts';

export interface ProbeOptions {
  count?: number;
  /** Pause between requests, ms: the time a kept-alive connection sits idle. */
  intervalMs?: number;
  keepAlive?: boolean;
  method?: string;
  headers?: [string, string][];
  insecure?: boolean;
  timeoutMs?: number;
}

export interface ProbeTimings {
  /** Phase durations, ms (0 when the phase did not happen, as on a reused connection). */
  dns: number;
  connect: number;
  tls: number;
  /** From the start of the request to the first byte of the response, ms (curl's time_starttransfer). */
  ttfb: number;
  /** From the first byte to the last, ms. */
  transfer: number;
  total: number;
}

export interface ProbeRequest {
  index: number;
  reused: boolean;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  status: number;
  bytes: number;
  timingsMs: ProbeTimings;
  tls?: { protocol: string | null; cipher: string; alpn: string | false | null; resumed: boolean };
  /** The server's Connection and Keep-Alive headers, as sent. */
  connection?: string;
  keepAlive?: string;
  error?: string;
}

export interface ProbeResult {
  url: string;
  requests: ProbeRequest[];
  warnings: string[];
}

const round = (x: number) => Math.round(x * 100) / 100;

/** "timeout=5, max=1000" → 5 (seconds), or undefined. */
export function keepAliveTimeoutS(header: string | undefined): number | undefined {
  const m = header ? /timeout\s*=\s*(\d+)/i.exec(header) : null;
  return m ? Number(m[1]) : undefined;
}

/** The idle-close race, in words, when the server's keep-alive and the client's idle time do not fit. */
export function keepAliveWarnings(requests: ProbeRequest[], intervalMs: number, keepAlive: boolean): string[] {
  if (!keepAlive || requests.length === 0) return [];
  const first = requests.find((r) => r.status > 0);
  if (!first) return [];
  const timeout = keepAliveTimeoutS(first.keepAlive);
  if (first.connection?.toLowerCase() === 'close')
    return [
      'the server closes the connection after each response (Connection: close): every request pays for a new connection',
    ];
  if (timeout === undefined) {
    return [
      'the server does not advertise its keep-alive timeout (no Keep-Alive: timeout=…): a client cannot keep its idle timeout below it. A client that reuses a connection the server has just closed gets ECONNRESET or "socket hang up"; set the client idle timeout below the server\'s real one.',
    ];
  }
  if (intervalMs >= timeout * 1000 - 1000) {
    return [
      `the server closes idle connections after ${timeout} s, and this client idles ${intervalMs / 1000} s between requests, less than a second short of it: a request can meet the server's close. A connection reused just as the server closes it fails with ECONNRESET; keep the client's idle timeout at least a second below ${timeout} s.`,
    ];
  }
  return [];
}

export async function probe(url: string, o: ProbeOptions = {}): Promise<ProbeResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new UsageError(`'${url}' is not a URL: give one like http://127.0.0.1:8080/`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new UsageError(`'${target.protocol.slice(0, -1)}' is not supported: probe speaks http and https`);
  }
  const count = o.count ?? 1;
  const keepAlive = o.keepAlive ?? true;
  const tls = target.protocol === 'https:';
  const agent = tls
    ? new HttpsAgent({ keepAlive, maxSockets: 1, rejectUnauthorized: !o.insecure })
    : new HttpAgent({ keepAlive, maxSockets: 1 });
  const requests: ProbeRequest[] = [];
  try {
    for (let i = 0; i < count; i++) {
      if (i > 0 && o.intervalMs) await new Promise((r) => setTimeout(r, o.intervalMs));
      const r = await one(target, agent, i, o, keepAlive);
      requests.push(r);
      if (r.error && requests.every((x) => x.error)) {
        // Nothing has worked: say why once instead of repeating the failure N times.
        if (i === 0) throw new TcplensError(`${target.host}: ${r.error}`);
      }
    }
  } finally {
    agent.destroy();
  }
  return { url: target.href, requests, warnings: keepAliveWarnings(requests, o.intervalMs ?? 0, keepAlive) };
}

function one(target: URL, agent: HttpAgent, index: number, o: ProbeOptions, keepAlive: boolean): Promise<ProbeRequest> {
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = Object.fromEntries(o.headers ?? []);
  if (!keepAlive) headers.connection = 'close';
  return new Promise((resolve) => {
    const t0 = performance.now();
    let lookupAt = 0;
    let connectAt = 0;
    let secureAt = 0;
    let firstByteAt = 0;
    let socket: Socket | undefined;
    const req = send(target, { method: o.method ?? 'GET', headers, agent, timeout: o.timeoutMs ?? 10_000 });
    const fail = (err: Error & { code?: string }) =>
      resolve({
        index,
        reused: Boolean(req.reusedSocket),
        localAddress: socket?.localAddress ?? '',
        localPort: socket?.localPort ?? 0,
        remoteAddress: socket?.remoteAddress ?? '',
        remotePort: socket?.remotePort ?? 0,
        status: 0,
        bytes: 0,
        timingsMs: { dns: 0, connect: 0, tls: 0, ttfb: 0, transfer: 0, total: round(performance.now() - t0) },
        error:
          err.code === 'ECONNREFUSED'
            ? `connection refused (ECONNREFUSED): nothing listens on port ${target.port || (target.protocol === 'https:' ? 443 : 80)}`
            : err.code
              ? `${err.code}: ${err.message}`
              : err.message,
      });
    req.on('error', fail);
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no response within ${o.timeoutMs ?? 10_000} ms`), { code: 'timeout' })),
    );
    req.on('socket', (s: Socket) => {
      socket = s;
      if (!req.reusedSocket) {
        s.once('lookup', () => (lookupAt = performance.now()));
        s.once('connect', () => (connectAt = performance.now()));
        s.once('secureConnect', () => (secureAt = performance.now()));
      }
      s.once('data', () => (firstByteAt = performance.now()));
    });
    req.on('response', (res: IncomingMessage) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => {
        const end = performance.now();
        const reused = Boolean(req.reusedSocket);
        const dnsEnd = lookupAt || t0;
        const s = socket as TLSSocket | undefined;
        const first = firstByteAt || end;
        const result: ProbeRequest = {
          index,
          reused,
          localAddress: s?.localAddress ?? '',
          localPort: s?.localPort ?? 0,
          remoteAddress: s?.remoteAddress ?? '',
          remotePort: s?.remotePort ?? 0,
          status: res.statusCode ?? 0,
          bytes,
          timingsMs: {
            dns: reused ? 0 : round(lookupAt ? lookupAt - t0 : 0),
            connect: reused || !connectAt ? 0 : round(connectAt - dnsEnd),
            tls: reused || !secureAt ? 0 : round(secureAt - connectAt),
            ttfb: round(first - t0),
            transfer: round(end - first),
            total: round(end - t0),
          },
          connection: res.headers.connection,
          keepAlive: res.headers['keep-alive'] as string | undefined,
        };
        if (s && typeof s.getProtocol === 'function') {
          const cipher = s.getCipher();
          result.tls = {
            protocol: s.getProtocol(),
            cipher: cipher?.name ?? '',
            alpn: s.alpnProtocol ?? null,
            resumed: s.isSessionReused(),
          };
        }
        resolve(result);
      });
      res.on('error', fail);
    });
    req.end();
  });
}
