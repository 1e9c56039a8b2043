// Pass-through without toxics is byte-exact (sha256 at both ends over a GiB and more), and memory
// stays flat when the reader is slow: backpressure reaches the origin instead of filling the proxy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { dial, sleep, startProxies, tcpServer } from './helpers.ts';
import type { ProxyServer } from '../../src/proxy/server.ts';
import { startCliProxy } from './cli-proxy.ts';

const MiB = 1024 * 1024;
// A period that is not a power of two, so that a chunk lost, doubled or swapped changes the hash.
const PATTERN = randomBytes(MiB + 7);

/** Write `total` bytes of PATTERN with backpressure, hashing what is written; resolves with the digest. */
function sendPattern(socket: Socket, total: number, progress?: { sent: number }): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const pump = () => {
      while (sent < total) {
        const n = Math.min(PATTERN.length, total - sent);
        const chunk = n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n);
        hash.update(chunk);
        sent += n;
        if (progress) progress.sent = sent;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end(() => resolve(hash.digest('hex')));
    };
    pump();
  });
}

/** Everything the socket receives, hashed; with `stallEvery`, reading stops 5 ms after each that many bytes. */
function receiveHash(socket: Socket, stallEvery = 0): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let nextStall = stallEvery;
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
      if (stallEvery > 0 && bytes >= nextStall) {
        nextStall += stallEvery;
        socket.pause();
        setTimeout(() => socket.resume(), 5);
      }
    });
    socket.once('end', () => resolve({ digest: hash.digest('hex'), bytes }));
    socket.once('error', reject);
  });
}

/**
 * DOWN bytes from the server and UP bytes to it at once through a proxy at `port` (from
 * `start(upstream address)`), hashed at both ends; `during` runs while they flow. Receivers that
 * stall now and then (`stallEvery` bytes) fill the proxy's sockets, so that its writes queue.
 */
async function exactBothWays(
  start: (upstream: string) => Promise<{ port: number; stop(): Promise<void> }>,
  DOWN: number,
  UP: number,
  during: () => Promise<void> = async () => {},
  stallEvery = 0,
): Promise<void> {
  let serverSent: Promise<string> | undefined;
  let serverGot: Promise<{ digest: string; bytes: number }> | undefined;
  // The first byte a client sends picks what the server does: D sends, U receives.
  const server = await tcpServer((s) => {
    s.once('data', (first: Buffer) => {
      if (first[0] === 0x44) {
        serverSent = sendPattern(s, DOWN);
      } else {
        serverGot = receiveHash(s, stallEvery);
        if (first.length > 1) s.unshift(first.subarray(1));
      }
    });
  });
  const proxy = await start(server.address);
  try {
    const down = await dial(proxy.port);
    const up = await dial(proxy.port);
    const got = receiveHash(down, stallEvery);
    down.write('D');
    up.write('U');
    const [sentUp, received] = await Promise.all([sendPattern(up, UP), got, during()]);
    assert.equal(received.bytes, DOWN);
    assert.equal(received.digest, await serverSent!, 'downstream: the client got exactly what the server sent');
    const atServer = await serverGot!;
    assert.equal(atServer.bytes, UP, 'upstream byte count (the U itself was consumed)');
    assert.equal(atServer.digest, sentUp, 'upstream: the server got exactly what the client sent');
  } finally {
    await proxy.stop();
    await server.close();
  }
}

test('pass-through is byte-exact: sha256 equal at both ends over 1 GiB downstream and 64 MiB upstream at once', async () => {
  const DOWN = 1024 * MiB;
  const UP = 64 * MiB;
  let stats: { bytesDownstream: number; bytesUpstream: number } | undefined;
  await exactBothWays(
    async (upstream) => {
      const proxy = await startCliProxy(['--no-api', '--listen', '127.0.0.1:0', '--upstream', upstream]);
      return {
        port: proxy.port('proxy'),
        stop: async () => {
          const { code, last } = await proxy.stop();
          assert.equal(code, 0);
          stats = JSON.parse(last).stats[0];
        },
      };
    },
    DOWN,
    UP,
  );
  assert.equal(stats!.bytesDownstream, DOWN);
  assert.equal(stats!.bytesUpstream, UP + 2);
});

test('pass-through is byte-exact through net.Socket too, where the direct handle path is not used (TCPLENS_PROXY_IO=socket)', async () => {
  await exactBothWays(
    async (upstream) => {
      const proxy = await startCliProxy(['--no-api', '--listen', '127.0.0.1:0', '--upstream', upstream], {
        TCPLENS_PROXY_IO: 'socket',
      });
      return {
        port: proxy.port('proxy'),
        stop: async () => {
          proxy.child.kill('SIGKILL');
        },
      };
    },
    96 * MiB,
    16 * MiB,
  );
});

test('toxics added, updated and removed on both streams while bytes flow both ways: nothing lost, doubled or reordered', async () => {
  let px: ProxyServer | undefined;
  let changes = 0;
  await exactBothWays(
    async (upstream) => {
      px = await startProxies([{ name: 'p', upstream }]);
      return { port: px.proxy('p')!.port, stop: () => px!.close() };
    },
    160 * MiB,
    32 * MiB,
    async () => {
      // Each change re-links live connections: chunks switch between the direct path and the stages.
      const p = px!.proxy('p')!;
      for (let i = 0; i < 12; i++) {
        await sleep(15);
        const stream = i % 2 === 0 ? 'downstream' : 'upstream';
        p.addToxic({ name: `l${i}`, type: 'latency', stream, attributes: { latency: 2 } });
        await sleep(15);
        p.updateToxic(`l${i}`, { attributes: { latency: 1 } });
        await sleep(10);
        p.removeToxic(`l${i}`);
        changes++;
      }
    },
    4 * MiB,
  );
  assert.equal(changes, 12);
});

test('a slow reader does not fill the proxy: with and without a toxic chain, 200 MB wait at the origin, and all arrive intact', async (t) => {
  const TOTAL = 200 * 1000 * 1000;
  const origins: { socket: Socket; progress: { sent: number }; sent: Promise<string> }[] = [];
  const server = await tcpServer((s) => {
    const progress = { sent: 0 };
    origins.push({ socket: s, progress, sent: sendPattern(s, TOTAL, progress) });
  });
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-proxy-'));
  const config = join(dir, 'proxies.json');
  writeFileSync(
    config,
    JSON.stringify([
      { name: 'plain', listen: '127.0.0.1:0', upstream: server.address },
      {
        name: 'toxic',
        listen: '127.0.0.1:0',
        upstream: server.address,
        toxics: [{ type: 'latency', attributes: { latency: 1 } }],
      },
    ]),
  );
  const proxy = await startCliProxy(['--no-api', '--config', config]);
  try {
    await sleep(200);
    const baseline = proxy.rssBytes();
    for (const name of ['plain', 'toxic']) {
      const client = await dial(proxy.port(name));
      client.pause();
      // The reader sleeps while the origin pushes as fast as it can.
      await sleep(500);
      const origin = origins.at(-1)!;
      const rss = proxy.rssBytes();
      const grew = (rss - baseline) / MiB;
      // The 16 MiB a toxic chain may hold, the socket buffers, and the allocator's slack.
      assert.ok(grew < 48, `${name}: the proxy grew by ${grew.toFixed(1)} MiB with a paused reader`);
      // What the origin's kernel accepted: the proxy's buffers and the sockets' between it and the reader.
      const accepted = (origin.progress.sent - origin.socket.writableLength) / MiB;
      t.diagnostic(`${name}: proxy grew ${grew.toFixed(1)} MiB; origin handed over ${accepted.toFixed(0)} MiB`);
      assert.ok(
        accepted < 64,
        `${name}: the origin could hand over ${accepted.toFixed(0)} MiB of 190 to a paused reader`,
      );
      const got = receiveHash(client);
      client.resume();
      const r = await got;
      assert.equal(r.bytes, TOTAL);
      assert.equal(r.digest, await origin.sent, `${name}: intact`);
    }
  } finally {
    proxy.child.kill('SIGKILL');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
