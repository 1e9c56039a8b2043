// Grows a known population of loopback TCP sockets — ESTABLISHED pairs and client-side TIME_WAIT —
// then holds them until stdin closes or a signal arrives. Run it in a network namespace of its own.
//
//   node bench/lib/socket-farm.ts --established N --time-wait N [--ports N]
// --ports spreads the connections over N listeners of each kind: connect() slows down badly once one
// destination's port range is mostly taken.
// Prints one JSON line {"ready":true,...} once everything is in place.

import { createServer, connect, type Socket, type Server } from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    established: { type: 'string', default: '1000' },
    'time-wait': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '400' },
    host: { type: 'string', default: '127.0.0.1' },
    ports: { type: 'string', default: '1' },
  },
});
const ports = Math.max(1, Number(values.ports));
const established = Number(values.established);
const timeWait = Number(values['time-wait']);
const concurrency = Number(values.concurrency);
const host = values.host;
const deadline = Date.now() + 300_000; // never run away: every loop below is bounded in time too

async function listen(server: Server): Promise<number> {
  server.listen({ host, port: 0, backlog: 4096 });
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

const held: Socket[] = [];
const holdServer = createServer((s) => {
  held.push(s);
  s.on('error', () => {});
});
// The server answers a client's FIN with its own (allowHalfOpen is false), so the client, which
// closed first, is the one left in TIME_WAIT.
const twServer = createServer((s) => {
  s.on('error', () => {});
  s.resume();
});
const holdPorts: number[] = [];
const twPorts: number[] = [];
for (let i = 0; i < ports; i++) {
  // Each listener after the first shares the connection handler of the first of its kind.
  holdPorts.push(await listen(i === 0 ? holdServer : createServer((s) => holdServer.emit('connection', s))));
  twPorts.push(await listen(i === 0 ? twServer : createServer((s) => twServer.emit('connection', s))));
}
const holdPort = holdPorts[0]!;
const twPort = twPorts[0]!;

async function runBounded(total: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total && Date.now() < deadline) {
      await one(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

await runBounded(established, async (i) => {
  const s = connect({ host, port: holdPorts[i % ports]! });
  s.on('error', () => {});
  await once(s, 'connect');
  held.push(s);
});

await runBounded(timeWait, async (i) => {
  const s = connect({ host, port: twPorts[i % ports]! });
  s.on('error', () => {});
  await once(s, 'connect');
  s.end();
  await once(s, 'close');
});

process.stdout.write(JSON.stringify({ ready: true, holdPort, twPort, established, timeWait }) + '\n');

const stop = () => {
  for (const s of held) s.destroy();
  holdServer.close();
  twServer.close();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 600_000).unref();
