// A lab server that answers every HTTP/1.1 request with a fixed 200 and never closes a connection
// first, so the client's close decides where TIME_WAIT lands (E1, E2). Usage: http-responder HOST PORT [PORT…]
// Prints {"port":N,"ports":[…]} once listening on every port (0: any free one); stops on SIGTERM.

import { createServer, type Socket } from 'node:net';

const [host = '127.0.0.1', ...portTexts] = process.argv.slice(2);
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n');
const END_OF_HEAD = Buffer.from('\r\n\r\n');

function onConnection(socket: Socket): void {
  socket.on('error', () => {});
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    // Requests without bodies (GET): one response per blank line ending a head.
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at: number;
    while ((at = pending.indexOf(END_OF_HEAD)) >= 0) {
      socket.write(RESPONSE);
      pending = pending.subarray(at + END_OF_HEAD.length);
    }
  });
  // The client's FIN: answer with ours (passive close: CLOSE_WAIT → LAST_ACK, no TIME_WAIT here).
  socket.on('end', () => socket.end());
}

const ports = await Promise.all(
  (portTexts.length ? portTexts : ['0']).map(
    (p) =>
      new Promise<number>((resolve, reject) => {
        const server = createServer(onConnection);
        server.once('error', reject);
        server.listen({ host, port: Number(p), backlog: 511 }, () =>
          resolve((server.address() as { port: number }).port),
        );
      }),
  ),
);
console.log(JSON.stringify({ port: ports[0], ports }));
process.on('SIGTERM', () => process.exit(0));
