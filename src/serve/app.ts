// The routes of `tcplens serve`: a target whose every behaviour is asked for in the URL.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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

function intParam(path: string, prefix: string): number | undefined {
  const rest = path.slice(prefix.length);
  return /^\d{1,10}$/.test(rest) ? Number(rest) : undefined;
}

/** Handle one request of the serve app. Returns false for paths it does not know (the caller 404s). */
export function serveApp(req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length });
    res.end(req.method === 'HEAD' ? undefined : HELLO);
    return true;
  }
  if (path.startsWith('/delay/')) {
    const ms = intParam(path, '/delay/');
    if (ms === undefined || ms > 600_000) return sendText(res, 400, 'delay takes 0 to 600000 ms\n'), true;
    const timer = setTimeout(() => sendText(res, 200, `waited ${ms} ms\n`), ms);
    res.once('close', () => clearTimeout(timer));
    return true;
  }
  if (path.startsWith('/bytes/')) {
    const n = intParam(path, '/bytes/');
    if (n === undefined || n > 2 ** 30) return sendText(res, 400, 'bytes takes 0 to 1073741824\n'), true;
    sendBytes(res, n);
    return true;
  }
  if (path.startsWith('/status/')) {
    const code = intParam(path, '/status/');
    // 1xx are interim responses, never an answer on their own.
    if (code === undefined || code < 200 || code > 599) return sendText(res, 400, 'status takes 200 to 599\n'), true;
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
