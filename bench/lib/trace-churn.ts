// Short TCP connections as fast as they go, for bench/trace.ts: a server and N client loops on 127.0.0.1, run inside
// the benchmark's own network namespace, driven over stdin:
//   ping        one connection, then "pong" (the benchmark waits for the tracer to see it)
//   go S N [R]  N loops of connect → end → close for S seconds, R connections a second at most (0 or
//               none: as fast as they go), then {"connections","stuck","seconds"}
//   quit
// Each connection closes from the client first: 5 transitions on each side (10), the client's
// FIN_WAIT2 → CLOSE the hand-off to a timewait socket. The server runs in a process of its own
// (`trace-churn.ts PORT server`), so that the two sides do not take turns on one event loop.

import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const port = Number(process.argv[2] ?? 7000);
if (process.argv[3] === 'server') {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.resume();
  });
  server.listen({ host: '127.0.0.1', port, backlog: 4096 });
  await once(server, 'listening');
  process.stdout.write('ready\n');
  // Until killed.
  await new Promise(() => {});
}
process.stdout.write('ready\n');

let stuck = 0;

/** One connection; false when it failed, or hung for 5 s (a lost SYN, say) and was dropped. */
function one(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let ok = false;
    const timer = setTimeout(() => {
      stuck++;
      ok = false;
      s.destroy();
    }, 5000);
    s.on('error', () => {});
    s.once('connect', () => {
      ok = true;
      s.resume();
      s.end();
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve(ok);
    });
  });
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, a, b, c] = line.trim().split(/\s+/);
  if (cmd === 'ping') {
    await one();
    process.stdout.write('pong\n');
  } else if (cmd === 'go') {
    const seconds = Number(a);
    const loops = Number(b ?? 64);
    const perSecond = Number(c ?? 0);
    const until = Date.now() + seconds * 1000;
    let connections = 0;
    let issued = 0;
    stuck = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: loops }, async () => {
        while (Date.now() < until) {
          if (perSecond > 0) {
            // Connection k starts at k / R seconds, whichever loop is free: a steady rate, not bursts.
            const at = started + (issued++ * 1000) / perSecond;
            if (at >= until) break;
            const wait = at - Date.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          if (await one()) connections++;
        }
      }),
    );
    process.stdout.write(JSON.stringify({ connections, stuck, seconds: (Date.now() - started) / 1000 }) + '\n');
  } else if (cmd === 'quit') {
    break;
  }
}
process.exit(0);
