// One HTTP exchange over a plain socket, for requests an HTTP client refuses to send (bad targets,
// smuggling shapes, bytes that are not HTTP): the raw reply and its status.

import { connect } from 'node:net';

export interface RawReply {
  /** The first final status (interim 1xx skipped); 0 when the server closed without answering. */
  status: number;
  /** Every status line seen, in order (more than one: the server answered a second, smuggled request). */
  statuses: number[];
  raw: string;
  /** The server closed the connection (it did not time out). */
  closed: boolean;
}

/** Send `request` and read until the server closes the connection or `timeoutMs` passes. */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let raw = '';
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...raw.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ status: statuses.find((s) => s >= 200) ?? 0, statuses, raw, closed });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    // A reset after the reply (the server closing with unread bytes) still counts as an answer.
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.write(request);
  });
}
