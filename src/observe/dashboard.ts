// The dashboard's server: the built page, a stream of samples (server-sent events, 1 s) with
// doctor's findings (renewed every 10 s), and the bench viewer's decoder. Nothing it answers
// changes the host.

import { listenOrExplain } from '../http/listen.ts';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SMALL_SERVER_TIMEOUTS } from '../http/small-server-timeouts.ts';
import { hostname, release } from 'node:os';
import type { Duplex } from 'node:stream';
import { TooLargeError, UsageError } from '../errors.ts';
import { loadAssets, type Asset } from './dashboard-assets.ts';
import { benchView, UPLOAD_LIMITS } from './dashboard-bench.ts';
import { createFrameSource } from './dashboard-frame.ts';
import { hostGuard, type HostGuard } from './dashboard-guard.ts';
import { createUploadScanner } from './dashboard-upload.ts';
import type { DashboardFindings, DashboardFrame, DashboardHello } from './dashboard-protocol.ts';
import { packageVersion } from '../version.ts';
import type { ReasonSource } from '../model/reason-totals.ts';
import { bracketHost } from '../text/host-port.ts';

export interface DashboardOptions {
  /** Address to bind; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 9470 by default; 0 picks a free port. */
  port?: number;
  /** Host names accepted besides the bound address's own (a reverse proxy's name). */
  allowHosts?: string[];
  /** Sampling period, ms. */
  intervalMs?: number;
  /** Doctor's window, ms (the sampler makes the first one shorter). */
  findingsIntervalMs?: number;
  /** Entries in each top-N list (ports, peers, destinations). */
  topN?: number;
  /** Frames kept for a page that opens later (the charts' width). */
  historyLength?: number;
  /** Where the built page is (dist/web by default). */
  assetsDir?: string;
  /** --ebpf: a running trace of drops and resets by reason, or why there is none (the page says it). */
  ebpf?: { reasons?: ReasonSource; why?: string };
}

export interface DashboardHandle {
  url: string;
  host: string;
  port: number;
  /** Accepted Host headers (host:port). */
  allowedHosts: string[];
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
};

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";

const noList = { top: [], other: 0, total: 0 };

/** Strip what only the newest frame needs to carry (tables), keeping what the charts draw. */
function chartOnly(f: DashboardFrame): DashboardFrame {
  return {
    ...f,
    ephemeral: f.ephemeral && { ...f.ephemeral, destinations: [] },
    listeners: [],
    timeWaitClientSide: noList,
    timeWaitServerSide: noList,
    establishedLocal: noList,
    establishedRemote: noList,
    peers: [],
    rtt: f.rtt && { ...f.rtt, peers: [] },
  };
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'cache-control': 'no-store' });
}

/**
 * Read a bench file as it arrives, through the scanner that bounds it. On a refusal the rest of
 * the body is read and dropped (up to the byte limit), so the client gets the 4xx rather than a
 * reset while it is still sending.
 */
function readBenchUpload(req: IncomingMessage): Promise<string> {
  const scanner = createUploadScanner(UPLOAD_LIMITS);
  return new Promise((resolve, reject) => {
    let refused = false;
    let dropped = 0;
    const onData = (chunk: Buffer) => {
      if (refused) {
        dropped += chunk.length;
        if (dropped > UPLOAD_LIMITS.maxBytes) req.destroy();
        return;
      }
      try {
        scanner.write(chunk);
      } catch (err) {
        refused = true;
        reject(err);
      }
    };
    req.on('data', onData);
    req.once('end', () => {
      if (refused) return;
      try {
        resolve(scanner.end());
      } catch (err) {
        reject(err);
      }
    });
    req.once('error', reject);
  });
}

export async function startDashboard(o: DashboardOptions = {}): Promise<DashboardHandle> {
  const host = o.host === undefined || o.host === 'localhost' ? '127.0.0.1' : o.host;
  const intervalMs = o.intervalMs ?? 1000;
  const findingsIntervalMs = o.findingsIntervalMs ?? 10_000;
  const historyLength = o.historyLength ?? 300;
  const assets: Map<string, Asset> = loadAssets(o.assetsDir);
  const source = createFrameSource({
    topN: o.topN,
    findingsIntervalMs,
    reasons: o.ebpf?.reasons,
    rttIntervalMs: intervalMs,
  });
  const ebpf = { tracing: o.ebpf?.reasons !== undefined, why: o.ebpf?.reasons ? null : (o.ebpf?.why ?? null) };
  const version = packageVersion();

  const clients = new Set<ServerResponse>();
  const history: DashboardFrame[] = [];
  let findings: DashboardFindings | null = null;
  let guard: HostGuard | undefined;
  let closed = false;

  const broadcast = (event: string, data: unknown) => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of clients) {
      // A page that stopped reading (a background tab frozen for long) is dropped, not buffered for ever.
      if (res.writableLength > 8 << 20) res.destroy();
      else res.write(text);
    }
  };

  // One sample per interval, measured from the start of the previous one; a slow sample (a host
  // with 100,000 sockets) delays the next rather than piling up.
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const started = performance.now();
    try {
      const next = await source.next();
      if (closed) return;
      history.push(next.frame);
      if (history.length > historyLength) history.shift();
      broadcast('sample', next.frame);
      if (next.findings && next.findings.t !== findings?.t) {
        findings = next.findings;
        broadcast('findings', findings);
      }
    } catch (err) {
      if (closed) return;
      broadcast('problem', { message: err instanceof Error ? err.message : String(err) });
    }
    if (!closed) timer = setTimeout(tick, Math.max(0, intervalMs - (performance.now() - started)));
  };

  const events = (res: ServerResponse) => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const hello: DashboardHello = {
      host: hostname(),
      kernel: release(),
      version,
      intervalMs,
      findingsIntervalMs,
      history: history.map((f, i) => (i === history.length - 1 ? f : chartOnly(f))),
      findings,
      ebpf,
    };
    // retry: how soon the browser reconnects after losing us (EventSource's default is ~3 s).
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    clients.add(res);
    res.on('close', () => clients.delete(res));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!guard!.allows(req.headers.host)) {
      // DNS rebinding: a page from elsewhere that resolves its own name to this address.
      send(
        res,
        403,
        'text/plain; charset=utf-8',
        `tcplens dashboard: Host '${req.headers.host ?? ''}' is not this server's address (${[...guard!.allowed].join(', ')})\n`,
      );
      return;
    }
    const origin = req.headers.origin;
    if (!guard!.allowsOrigin(origin, req.headers.host)) {
      // A page of another site reading the live stream or posting a file: refused like a foreign Host.
      send(
        res,
        403,
        'text/plain; charset=utf-8',
        `tcplens dashboard: Origin '${origin}' is not a page of this server\n`,
      );
      return;
    }
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      // A target such as "//[" that is no URL path at all.
      return send(res, 400, 'text/plain; charset=utf-8', 'the request target is not a path\n');
    }
    const method = req.method ?? 'GET';
    if (path === '/api/bench') {
      if (method !== 'POST') return send(res, 405, 'text/plain', 'POST a bench --json file\n', { allow: 'POST' });
      // A cross-site form cannot send this type without a preflight, which we do not answer.
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
        return send(res, 415, 'text/plain', 'send application/json\n');
      const declared = Number(req.headers['content-length'] ?? 0);
      try {
        if (declared > UPLOAD_LIMITS.maxBytes) {
          // Not worth reading: answer, then close rather than drain what is announced.
          res.shouldKeepAlive = false;
          throw new TooLargeError(`the file is over ${UPLOAD_LIMITS.maxBytes >> 20} MiB`);
        }
        return sendJson(res, 200, benchView(await readBenchUpload(req)));
      } catch (err) {
        if (err instanceof TooLargeError) return sendJson(res, 413, { error: err.message });
        if (err instanceof UsageError) return sendJson(res, 400, { error: err.message });
        throw err;
      }
    }
    if (method !== 'GET' && method !== 'HEAD')
      return send(res, 405, 'text/plain', 'this server only answers GET\n', { allow: 'GET, HEAD' });
    if (path === '/api/events' && method === 'GET') return events(res);
    if (path === '/api/frame') return sendJson(res, 200, history.at(-1) ?? null);
    if (path === '/api/findings') return sendJson(res, 200, findings);
    const asset = assets.get(path === '/' ? '/index.html' : path);
    if (!asset) return send(res, 404, 'text/plain', 'not found\n');
    const headers: Record<string, string> = {
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (asset.type.startsWith('text/html')) headers['content-security-policy'] = CSP;
    if (method === 'HEAD') {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': asset.type,
        'content-length': asset.body.length,
        ...headers,
      });
      res.end();
      return;
    }
    send(res, 200, asset.type, asset.body, headers);
  };

  const server = createServer(SMALL_SERVER_TIMEOUTS, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  // Node closes a CONNECT it has no handler for without a word; say why instead.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
  });
  let port: number;
  try {
    port = await listenOrExplain(server, host, o.port ?? 9470);
  } catch (err) {
    source.close();
    throw err;
  }
  guard = hostGuard(host, port, o.allowHosts);
  void tick();

  const shown = bracketHost(host);
  return {
    url: `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : shown}:${port}/`,
    host,
    port,
    allowedHosts: [...guard.allowed],
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      source.close();
      // End the streams (rather than cut them) so that pages see a clean end and start reconnecting.
      for (const res of clients) res.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
