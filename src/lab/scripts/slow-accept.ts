// A lab HTTP server that accepts slowly (E3): its event loop is blocked blockMs at a time, as by CPU-bound
// work, so the kernel's accept queue (backlog) fills between two turns of the loop.
//   slow-accept HOST PORT BACKLOG BLOCK_MS     prints {"port":N} once listening; stops on SIGTERM

import { createServer } from 'node:http';

const [host = '127.0.0.1', portText = '0', backlogText = '8', blockText = '100'] = process.argv.slice(2);
const blockMs = Number(blockText);
const cell = new Int32Array(new SharedArrayBuffer(4));

const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
  res.end('ok\n');
});
server.listen({ host, port: Number(portText), backlog: Number(backlogText) }, () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  // Between two blocks the loop runs once: it accepts what waits in the queue and answers it.
  const block = () => {
    Atomics.wait(cell, 0, 0, blockMs);
    setImmediate(block);
  };
  setImmediate(block);
});
process.on('SIGTERM', () => process.exit(0));
