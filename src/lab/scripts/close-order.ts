// A lab script of plain TCP connections whose closing order is chosen (E2): who sends the first FIN,
// and so who keeps TIME_WAIT.
//   close-order server HOST PORT:MODE [PORT:MODE…]   MODE first: close at once; answer: close when the peer
//                                                    does; never: keep the socket open (the peer's FIN_WAIT_2)
//   close-order client HOST PORT COUNT MODE          MODE first: close right after connecting; wait: close
//                                                    only after the server's FIN
// The server prints {"ports":[…]} once listening; the client prints {"closed":N,"errors":{CODE:N}} when done.

import { connect, createServer, type Socket } from 'node:net';

const [role, host = '127.0.0.1', ...rest] = process.argv.slice(2);

function serve(spec: string): Promise<number> {
  const [portText = '0', mode = 'answer'] = spec.split(':');
  const held: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    if (mode === 'first') socket.end();
    else if (mode === 'answer') socket.on('end', () => socket.end());
    else held.push(socket); // never: the peer's FIN is acknowledged by the kernel and nothing follows
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: Number(portText), backlog: 4096 }, () =>
      resolve((server.address() as { port: number }).port),
    );
  });
}

function one(port: number, mode: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port, allowHalfOpen: true });
    s.on('connect', () => {
      // destroy(): close(2) at once, as a client does when it is done: FIN goes out, the socket is orphaned.
      if (mode === 'first') s.destroy();
    });
    s.on('end', () => s.end());
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.on('close', () => resolve(undefined));
  });
}

if (role === 'server') {
  const ports = await Promise.all(rest.map(serve));
  console.log(JSON.stringify({ ports }));
  process.on('SIGTERM', () => process.exit(0));
} else if (role === 'client') {
  const [portText, countText = '1', mode = 'first'] = rest;
  const count = Number(countText);
  const errors: Record<string, number> = {};
  let closed = 0;
  // A few at a time: the order of each connection's close is what matters, not the rate.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, count) }, async () => {
      while (next < count) {
        next++;
        const code = await one(Number(portText), mode);
        if (code) errors[code] = (errors[code] ?? 0) + 1;
        else closed++;
      }
    }),
  );
  console.log(JSON.stringify({ closed, errors }));
} else {
  console.error('usage: close-order server HOST PORT:MODE… | client HOST PORT COUNT first|wait');
  process.exit(2);
}
