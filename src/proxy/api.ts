// The control API, route for route and status for status Toxiproxy 2.x's (its api.go), so that its
// clients drive tcplens unchanged; plus GET /metrics, and a bearer token when not on loopback.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UsageError } from '../errors.ts';
import { formatHostPort, parseHostPort } from './address.ts';
import { isLoopbackAddress } from '../text/loopback.ts';
import { MAX_BODY_BYTES } from './json.ts';
import { decodeBody } from './go-json.ts';
import { ApiError, toxicNotFound } from './api-error.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { ProxyCollection } from './collection.ts';
import { packageVersion } from '../version.ts';

export interface ApiOptions {
  /** 'host:port' to bind. */
  address: string;
  token?: string;
  /** Every address a host name resolves to (default dns.lookup); tests give their own. */
  lookup?: (host: string) => Promise<string[]>;
}

/** The Toxiproxy release whose API this one answers as; /version shows it, as clients check it. */
export const TOXIPROXY_API_VERSION = '2.12.0';

const lookupAll = async (host: string): Promise<string[]> => (await lookup(host, { all: true })).map((a) => a.address);

export interface ApiHandle {
  url: string;
  close(): Promise<void>;
}

class Reply {
  status: number;
  body: unknown;
  /** Toxiproxy sends its errors with http.Error: JSON text, labelled text/plain. */
  contentType: string;
  constructor(status: number, body?: unknown, contentType = 'application/json') {
    this.status = status;
    this.body = body;
    this.contentType = contentType;
  }
}

const errorReply = (err: { status: number; toJSON(): unknown }) =>
  new Reply(err.status, err.toJSON(), 'text/plain; charset=utf-8');

/** Past this much of an oversized body the connection is closed: draining has to end somewhere. */
const MAX_DRAIN_BYTES = 64 * MAX_BODY_BYTES;

/**
 * The body, or ApiError 413 past MAX_BODY_BYTES. The rest is still read and dropped, so that the
 * client reads the answer rather than a reset (up to MAX_DRAIN_BYTES; then the connection closes).
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const refuse = () => {
      tooLarge = true;
      parts.length = 0;
      reject(new ApiError(`request body larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`, 413));
    };
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) refuse();
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (tooLarge) {
        if (size > MAX_DRAIN_BYTES) req.socket.destroy();
      } else if (size > MAX_BODY_BYTES) refuse();
      else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

async function json(req: IncomingMessage): Promise<unknown> {
  return decodeBody(await readBody(req));
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export async function startApi(
  collection: ProxyCollection,
  metrics: ProxyMetrics,
  options: ApiOptions,
): Promise<ApiHandle> {
  const address = parseHostPort(options.address);
  if (typeof address === 'string') throw new UsageError(`--api takes HOST:PORT (${address})`);
  const token = options.token;
  // Decided from addresses, never from how the host is spelt: "127.evil.test" may resolve anywhere.
  let addresses = [address.host];
  if (isIP(address.host) === 0) {
    addresses = await (options.lookup ?? lookupAll)(address.host).catch((err: Error) => {
      throw new UsageError(
        `cannot listen on ${options.address} (control API): cannot resolve ${address.host} (${err.message})`,
      );
    });
    if (addresses.length === 0)
      throw new UsageError(`cannot listen on ${options.address} (control API): ${address.host} resolves to no address`);
  }
  const offLoopback = (list: string[]) => {
    const remote = list.filter((a) => !isLoopbackAddress(a));
    if (remote.length > 0 && token === undefined) {
      const via = remote[0] === address.host ? '' : ` (${address.host} resolves to ${remote.join(', ')})`;
      throw new UsageError(
        `the control API on ${options.address} is reachable from other hosts${via}: give it a --token`,
      );
    }
  };
  offLoopback(addresses);
  const serverVersion = packageVersion();

  async function route(req: IncomingMessage, res: ServerResponse): Promise<Reply | undefined> {
    const method = req.method ?? 'GET';
    // Not new URL(): a path such as "//x" reads as a host there and throws.
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const path = query < 0 ? target : target.slice(0, query);
    const parts = path
      .split('/')
      .slice(1)
      .map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new Reply(400, '400 Bad Request'); // Go's server refuses a malformed %-escape so
        }
      });
    const [top, proxyName, sub, toxicName, extra] = parts;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new Reply(405);
    };

    if (path === '/version') {
      allow('GET');
      return new Reply(
        200,
        { version: TOXIPROXY_API_VERSION, tcplens: serverVersion },
        'application/json;charset=utf-8',
      );
    }
    if (path === '/metrics') {
      allow('GET');
      const text = await metrics.text();
      res.writeHead(200, { 'Content-Type': metrics.contentType });
      res.end(text);
      return undefined;
    }
    if (path === '/reset') {
      allow('POST');
      await collection.reset();
      return new Reply(204);
    }
    if (path === '/populate') {
      allow('POST');
      // Toxiproxy answers every populate as JSON with the proxies done so far, errors included.
      let result: { proxies: { toJSON(): unknown }[]; error?: ApiError };
      try {
        result = await collection.populate(await json(req));
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        result = { proxies: [], error: err };
      }
      // Go marshals an empty list of proxies as null.
      const list = result.proxies.length > 0 ? result.proxies.map((p) => p.toJSON()) : null;
      const { error } = result;
      return error ? new Reply(error.status, { ...error.toJSON(), proxies: list }) : new Reply(201, { proxies: list });
    }
    if (top !== 'proxies' || extra !== undefined || (sub !== undefined && sub !== 'toxics'))
      return new Reply(404, '404 page not found\n');
    if (proxyName === undefined || proxyName === '') {
      if (path !== '/proxies') return new Reply(404, '404 page not found\n');
      allow('GET', 'POST');
      if (method === 'GET')
        return new Reply(200, Object.fromEntries(collection.list().map((p) => [p.name, p.toJSON()])));
      const proxy = await collection.create(await json(req));
      return new Reply(201, proxy.toJSON());
    }
    if (sub === undefined) {
      allow('GET', 'POST', 'PATCH', 'DELETE');
      if (method === 'GET') return new Reply(200, collection.get(proxyName).toJSON());
      if (method === 'DELETE') {
        await collection.remove(proxyName);
        return new Reply(204);
      }
      collection.get(proxyName); // 404 before the body is read, as Toxiproxy does
      const proxy = await collection.update(proxyName, await json(req));
      return new Reply(200, proxy.toJSON());
    }
    if (toxicName === '') return new Reply(404, '404 page not found\n'); // no route ends in a slash
    const proxy = collection.get(proxyName);
    if (toxicName === undefined) {
      allow('GET', 'POST');
      if (method === 'GET')
        return new Reply(
          200,
          proxy.toxics.list().map((t) => t.toJSON()),
        );
      const body = await json(req);
      return new Reply(200, await collection.serial(() => proxy.toxics.add(body).toJSON()));
    }
    allow('GET', 'POST', 'PATCH', 'DELETE');
    if (method === 'GET') {
      const t = proxy.toxics.get(toxicName);
      if (!t) throw toxicNotFound();
      return new Reply(200, t.toJSON());
    }
    if (method === 'DELETE') {
      await collection.serial(() => proxy.toxics.remove(toxicName));
      return new Reply(204);
    }
    if (!proxy.toxics.get(toxicName)) throw toxicNotFound();
    const body = await json(req);
    return new Reply(200, await collection.serial(() => proxy.toxics.update(toxicName, body).toJSON()));
  }

  const server = createServer((req, res) => {
    // Toxiproxy refuses browsers, so that a web page cannot drive the API from a user's machine.
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('User agent not allowed\n');
      return;
    }
    if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
      req.resume();
      send(res, errorReply(new ApiError('missing or wrong token: send Authorization: Bearer <token>', 401)));
      return;
    }
    route(req, res).then(
      (reply) => {
        if (reply) send(res, reply);
      },
      (err: unknown) => {
        if (err instanceof Reply) send(res, err);
        else if (err instanceof ApiError) send(res, errorReply(err));
        else send(res, errorReply(new ApiError(err instanceof Error ? err.message : String(err), 500)));
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UsageError(
          `cannot listen on ${options.address} (control API): ${err.code === 'EADDRINUSE' ? 'the port is in use (is Toxiproxy or another tcplens proxy running? --api HOST:PORT or --no-api)' : err.message}`,
        ),
      ),
    );
    server.listen({ host: addresses[0], port: address.port }, () => resolve());
  });
  server.on('error', () => {});
  const bound = server.address() as { address: string; port: number };
  try {
    offLoopback([bound.address]);
  } catch (err) {
    server.close();
    throw err;
  }
  return {
    url: `http://${formatHostPort(bound.address, bound.port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status).end();
  } else if (typeof reply.body === 'string') {
    res.writeHead(reply.status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(reply.body);
  } else {
    if (reply.contentType.startsWith('text/plain')) res.setHeader('X-Content-Type-Options', 'nosniff');
    res.writeHead(reply.status, { 'Content-Type': reply.contentType }).end(JSON.stringify(reply.body));
  }
}
