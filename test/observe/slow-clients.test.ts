// The exporter and the dashboard cut off clients that never finish their request head (slowloris),
// as serve does, while they go on answering everyone else. With Node's defaults (a 60 s head timeout,
// checked every 30 s) the crowd below would still be connected at the end of the wait.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startExporter, type Exporter } from '../../src/observe/exporter-server.ts';
import { startDashboard, type DashboardHandle } from '../../src/observe/dashboard.ts';
import { SMALL_SERVER_TIMEOUTS } from '../../src/http/small-server-timeouts.ts';
import { rawExchange } from '../helpers/raw-http.ts';

const CROWD = 20;

let exporter: Exporter;
let dashboard: DashboardHandle;

before(async () => {
  [exporter, dashboard] = await Promise.all([
    startExporter({ port: 0, topN: 5 }),
    startDashboard({ port: 0, intervalMs: 60_000 }),
  ]);
});
after(async () => {
  await Promise.all([exporter?.close(), dashboard?.close()]);
});

interface Slow {
  socket: Socket;
  reply: string;
  closedAtMs?: number;
  drip: NodeJS.Timeout;
}

/** A client that sends part of a request head, then one more header byte a second, forever. */
function slowClient(port: number, startedMs: number): Slow {
  const socket = connect({ host: '127.0.0.1', port });
  const slow: Slow = { socket, reply: '', drip: setInterval(() => socket.write('x'), 1000) };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (slow.reply += d));
  socket.on('error', () => {});
  socket.on('close', () => {
    slow.closedAtMs = performance.now() - startedMs;
    clearInterval(slow.drip);
  });
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
  return slow;
}

test('a crowd of clients that never finish their head is closed with 408 at the head timeout; normal requests are answered meanwhile', async () => {
  const headersMs = SMALL_SERVER_TIMEOUTS.headersTimeout;
  const waitMs = headersMs + 2 * SMALL_SERVER_TIMEOUTS.connectionsCheckingInterval + 5_000;
  const started = performance.now();
  const servers = [
    { name: 'exporter', port: exporter.port, path: '/' },
    { name: 'dashboard', port: dashboard.port, path: '/' },
  ];
  const crowds = servers.map((s) => Array.from({ length: CROWD }, () => slowClient(s.port, started)));
  try {
    // Half-way through the wait, each server still answers a normal request.
    await new Promise((r) => setTimeout(r, headersMs / 2));
    for (const s of servers) {
      const r = await rawExchange(
        s.port,
        `GET ${s.path} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`,
        10_000,
      );
      assert.equal(r.status, 200, `${s.name} during the crowd: ${r.raw.slice(0, 200)}`);
    }
    const deadline = started + waitMs;
    while (performance.now() < deadline && crowds.some((c) => c.some((x) => x.closedAtMs === undefined))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    servers.forEach((s, i) => {
      const crowd = crowds[i]!;
      const open = crowd.filter((x) => x.closedAtMs === undefined).length;
      assert.equal(open, 0, `${s.name}: ${open} of ${CROWD} slow clients still connected after ${waitMs} ms`);
      for (const x of crowd) {
        assert.match(x.reply, /^HTTP\/1\.1 408 /, `${s.name}: ${x.reply.slice(0, 80)}`);
        // Cut off by the head timeout, not earlier for some other reason.
        assert.ok(x.closedAtMs! >= headersMs - 50, `${s.name}: closed after ${Math.round(x.closedAtMs!)} ms`);
      }
    });
  } finally {
    for (const x of crowds.flat()) {
      clearInterval(x.drip);
      x.socket.destroy();
    }
  }
});
