// Lab script for E4: an idle TCP connection whose peer either aborts it (RST) or vanishes, and the
// moment the other side learns of it. Times are wall-clock milliseconds (comparable across processes).
//   peer server HOST RESET_PORT HOLD_PORT   prints {"ports":[r,h]}; on SIGUSR1 resets (resetAndDestroy) every
//                                           connection of RESET_PORT and prints {"resetAtMs"}
//   peer client HOST PORT KEEPALIVE         KEEPALIVE off | on (SO_KEEPALIVE, the kernel's timings) | <ms>
//                                           (socket.setKeepAlive(true, ms)); prints {"connected","localPort"},
//                                           then {"event":"error"|"end"|"close","code"?,"atMs"} and exits

import { connect, createServer, type Socket } from 'node:net';

const now = () => performance.timeOrigin + performance.now();
const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const [role, host = '127.0.0.1', ...rest] = process.argv.slice(2);

function listen(port: number, onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve((server.address() as { port: number }).port));
  });
}

if (role === 'server') {
  const toReset = new Set<Socket>();
  const held: Socket[] = [];
  const ports = await Promise.all([
    listen(Number(rest[0] ?? 0), (s) => {
      toReset.add(s);
      s.on('close', () => toReset.delete(s));
    }),
    listen(Number(rest[1] ?? 0), (s) => held.push(s)),
  ]);
  process.on('SIGUSR1', () => {
    const at = now();
    for (const s of toReset) s.resetAndDestroy();
    print({ resetAtMs: at, reset: toReset.size });
  });
  process.on('SIGTERM', () => process.exit(0));
  print({ ports });
} else if (role === 'client') {
  const [portText, keepalive = 'off'] = rest;
  const s = connect({ host, port: Number(portText) });
  s.on('connect', () => {
    if (keepalive === 'on') s.setKeepAlive(true);
    else if (keepalive !== 'off') s.setKeepAlive(true, Number(keepalive));
    print({ connected: true, localPort: s.localPort });
  });
  s.on('error', (err: NodeJS.ErrnoException) => print({ event: 'error', code: err.code ?? 'error', atMs: now() }));
  s.on('end', () => print({ event: 'end', atMs: now() }));
  s.on('close', () => {
    print({ event: 'close', atMs: now() });
    process.exit(0);
  });
} else {
  console.error('usage: peer server HOST RESET_PORT HOLD_PORT | client HOST PORT off|on|<ms>');
  process.exit(2);
}
