// The routes of `tcplens serve`: a target whose every behaviour is asked for in the URL.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { routeInt } from './route-param.ts';

export const ROUTES = [
  ['/', 'hello world'],
  ['/delay/:ms', 'answer after ms milliseconds (at most 600000)'],
  ['/bytes/:n', 'a body of n bytes (at most 1 GiB)'],
  ['/status/:code', 'answer with this status code (200-599)'],
  ['/close', 'answer with Connection: close, then close'],
  ['/reset', 'send part of a response, then reset the connection (RST)'],
  ['/stall', 'read the request, never answer'],
] as const;

const HELLO = Buffer.from('hello world\n');
const CHUNK = Buffer.alloc(64 * 1024, 'x');

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Stream n bytes without holding them in memory, honouring backpressure. */
function sendBytes(res: ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  let left = n;
  const pump = () => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** The longest /delay/:ms: ten minutes, well under what a timer holds (2^31 - 1 ms). */
const MAX_DELAY_MS = 600_000;
const MAX_BYTES = 2 ** 30;

/** Handle one request of the serve app. Returns false for paths it does not know (the caller 404s). */
export function serveApp(req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length });
    res.end(req.method === 'HEAD' ? undefined : HELLO);
    return true;
  }
  if (path.startsWith('/delay/')) {
    const ms = routeInt(path.slice(7), '/delay/:ms', 'ms', 0, MAX_DELAY_MS);
    if (typeof ms === 'string') return (sendText(res, 400, ms), true);
    const timer = setTimeout(() => sendText(res, 200, `waited ${ms} ms\n`), ms);
    res.once('close', () => clearTimeout(timer));
    return true;
  }
  if (path.startsWith('/bytes/')) {
    const n = routeInt(path.slice(7), '/bytes/:n', 'n', 0, MAX_BYTES);
    if (typeof n === 'string') return (sendText(res, 400, n), true);
    sendBytes(res, n);
    return true;
  }
  if (path.startsWith('/status/')) {
    // 1xx are interim responses, never an answer on their own.
    const code = routeInt(path.slice(8), '/status/:code', 'code', 200, 599);
    if (typeof code === 'string') return (sendText(res, 400, code), true);
    if (code === 204 || code === 304) {
      res.writeHead(code);
      res.end();
      return true;
    }
    sendText(res, code, `status ${code}\n`);
    return true;
  }
  if (path === '/close') {
    res.shouldKeepAlive = false;
    res.writeHead(200, { connection: 'close', 'content-type': 'text/plain', 'content-length': HELLO.length });
    res.end(HELLO);
    return true;
  }
  if (path === '/reset') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
    res.write('partial ');
    // RST in the middle of the body: the client sees ECONNRESET, not a clean close.
    setImmediate(() => (req.socket as Socket).resetAndDestroy());
    return true;
  }
  if (path === '/stall') {
    req.resume();
    return true; // never answered; the connection ends when the client or a timeout closes it
  }
  return false;
}
