// The Node.js internals tcplens reaches under the public API, all in this one module. Each is read
// defensively (undefined when missing, never a throw) so callers fall back to the public API, and
// each has a canary in test/node-internals.unit.test.ts that fails loudly when a Node release removes or
// changes it, rather than letting a fallback hide the change.
//
// Environment switches that force the public-API path (documented in docs/internals.md):
//   TCPLENS_BENCH_TRANSPORT=socket   bench connects through net.Socket instead of tcp_wrap handles
//   TCPLENS_PROXY_IO=socket          the proxy moves bytes through net.Socket instead of its handles

import type { ServerResponse, Server as HttpServer } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/**
 * A libuv binding by name, through process.binding (deprecated in documentation only, for these
 * modules; it prints no warning): 'tcp_wrap' (TCP handles, connect requests) and 'stream_wrap'
 * (write and shutdown requests, the shared read state). Undefined when the name is gone.
 */
export function legacyBinding(name: 'tcp_wrap' | 'stream_wrap'): Record<string, unknown> | undefined {
  try {
    const legacy = process as unknown as { binding?: (name: string) => Record<string, unknown> };
    return typeof legacy.binding === 'function' ? legacy.binding(name) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * net.Socket's libuv handle (`socket._handle`): a TCPWrap while the socket is connected, null once
 * it is closed.
 */
export function socketHandle(socket: Socket): unknown {
  return (socket as unknown as { _handle?: unknown })._handle ?? undefined;
}

/**
 * The response node:http is writing on a server-side socket (`socket._httpMessage`), set from the
 * moment a request's response exists until it has finished; undefined when none is in progress.
 */
export function responseInProgress(socket: Socket): ServerResponse | undefined {
  return (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * The accepted TCP socket under a server-side TLS socket (`tlsSocket._parent`): what the server's
 * 'connection' event saw, and whose byte counts are what crossed the wire.
 */
export function tcpSocketUnderTls<T extends Socket = Socket>(tlsSocket: Socket): T | undefined {
  return (tlsSocket as unknown as { _parent?: T | null })._parent ?? undefined;
}

/**
 * Sets how often an HTTP server checks headersTimeout and requestTimeout
 * (`server.connectionsCheckingInterval`). Documented only as a createServer() option; the server
 * reads the property when it starts listening, so this takes effect only before listen().
 */
export function setConnectionsCheckingInterval(server: HttpServer, intervalMs: number): void {
  (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = intervalMs;
}

/** The value a server will use (or used) for its connections check; undefined if the property is gone. */
export function connectionsCheckingInterval(server: HttpServer): number | undefined {
  const v = (server as unknown as { connectionsCheckingInterval?: unknown }).connectionsCheckingInterval;
  return typeof v === 'number' ? v : undefined;
}

/**
 * Node's own HTTP/1 parser (llhttp) from the internal module `_http_common`, the reference the tests
 * hold our parser to. Undefined when the module or the class is gone.
 */
export function nodeHttpParser(): NodeHttpParserClass | undefined {
  try {
    const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser?: NodeHttpParserClass };
    return typeof HTTPParser === 'function' ? HTTPParser : undefined;
  } catch {
    return undefined;
  }
}

/** The parts of llhttp's binding used: a response parser fed buffers, with numbered callbacks. */
export interface NodeHttpParserClass {
  new (): NodeHttpParser;
  RESPONSE: number;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

export interface NodeHttpParser {
  initialize(type: number, resource: object): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  [callback: number]: (...args: never[]) => unknown;
}
