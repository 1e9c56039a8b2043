import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { createPool } from '../../src/pool/pool.ts';
import { httpServer } from '../helpers/servers.ts';

/** A server that answers and closes connections idle for idleMs, without advertising it (no Keep-Alive header). */
async function silentIdleCloser(idleMs: number) {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let timer = setTimeout(() => s.destroy(), idleMs);
    s.on('data', () => {
      clearTimeout(timer);
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      timer = setTimeout(() => s.destroy(), idleMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Rounds of `lanes` requests at once (one per connection), each after the connections idled about as long as the server allows. */
async function schedule(send: () => Promise<void>, idleMs: number, rounds: number, lanes: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < rounds; i++) {
    const results = await Promise.allSettled(Array.from({ length: lanes }, send));
    failed += results.filter((r) => r.status === 'rejected').length;
    await new Promise((r) => setTimeout(r, idleMs + ((i % 7) - 3)));
  }
  return failed;
}

test('the idle-close race: a naive pool fails requests, createPool fails none on the same schedule', async () => {
  const idleMs = 100;
  const rounds = 60;
  const lanes = 4;
  const server = await silentIdleCloser(idleMs);
  try {
    const naive = new Pool(server.origin, { connections: lanes, keepAliveTimeout: 10_000 });
    const naiveFailed = await schedule(
      async () => {
        const r = await naive.request({ path: '/', method: 'GET' });
        await r.body.text();
      },
      idleMs,
      rounds,
      lanes,
    );
    await naive.close();
    const pool = createPool(server.origin, { connections: lanes, idleTimeoutMs: 10_000 });
    const ourFailed = await schedule(
      async () => {
        const r = await pool.request({ path: '/' });
        await r.body.text();
      },
      idleMs,
      rounds,
      lanes,
    );
    const stats = pool.stats();
    await pool.close();
    console.log(
      `idle-close race over ${rounds * lanes} requests: naive undici Pool failed ${naiveFailed}, createPool failed ${ourFailed} (retried ${stats.retries})`,
    );
    assert.ok(naiveFailed > 0, 'the race is reproduced');
    assert.equal(ourFailed, 0);
    assert.ok(stats.retries > 0, 'by retrying what met a closing connection');
  } finally {
    server.close();
  }
});

test('contention: a pool of 2 under 50 concurrent requests shows queue wait; a right-sized pool does not', async () => {
  const server = await httpServer((_req, res) => setTimeout(() => res.end('x'), 20));
  try {
    const run = async (connections: number) => {
      const pool = createPool(server.url.slice(0, -1), { connections });
      await Promise.all(Array.from({ length: 50 }, async () => (await pool.request({ path: '/' })).body.text()));
      const s = pool.stats();
      await pool.close();
      return s;
    };
    type Stats = Awaited<ReturnType<typeof run>>;
    // The control: 50 plain connects at once to the same server, as the right-sized pool makes.
    const connectP90 = async () => {
      const port = Number(new URL(server.url).port);
      const ms = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const t0 = performance.now();
          const s = connect({ host: '127.0.0.1', port });
          await once(s, 'connect');
          const took = performance.now() - t0;
          s.destroy();
          return took;
        }),
      );
      return ms.sort((a, b) => a - b)[Math.ceil(0.9 * ms.length) - 1]!;
    };
    // A right-sized pool's wait is its connects, run by this process like the server it connects
    // to: on a busy machine they take what the same connects take measured alongside, plus how late
    // the event loop ran during the run. Rounds interleave the pools, each judged against its own
    // round, so that a load spike can spoil one round, not three.
    const rounds: { small: Stats; right: Stats; connectMs: number; loopLateMs: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const small = await run(2);
      const connectMs = await connectP90();
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const right = await run(50);
      loop.disable();
      rounds.push({ small, right, connectMs, loopLateMs: loop.max / 1e6 });
    }
    for (const { small } of rounds) {
      assert.equal(small.queueWaitMs.count, 50);
      assert.ok(small.queueWaitMs.p50 > 150, `small pool p50 wait ${small.queueWaitMs.p50} ms`);
      assert.ok(small.connected <= 2);
    }
    const seen = rounds.map(
      (r) =>
        `right-sized p90 ${r.right.queueWaitMs.p90} vs small p50 ${r.small.queueWaitMs.p50} (50 connects p90 ${r.connectMs.toFixed(1)} ms, event loop up to ${r.loopLateMs.toFixed(0)} ms late)`,
    );
    const margins = rounds.map(
      (r) => r.small.queueWaitMs.p50 / 5 + r.connectMs + r.loopLateMs - r.right.queueWaitMs.p90,
    );
    assert.ok(Math.max(...margins) > 0, seen.join('; '));
  } finally {
    await server.close();
  }
});
