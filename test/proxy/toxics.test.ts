// Each TCP toxic's effect, measured through the proxy on loopback.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  collect,
  dial,
  echoServer,
  roundTrip,
  showTrips,
  sleep,
  startProxies,
  tcpServer,
  trips,
  withStalls,
} from './helpers.ts';

test('latency delays each round trip by latency ± jitter on both streams, and a live toxic takes effect at once', async () => {
  const echo = await echoServer();
  const px = await startProxies([{ name: 'p', upstream: echo.address }]);
  try {
    const p = px.proxy('p')!;
    const s = await dial(p.port);
    // Upper bounds are on what a trip took less the time this process was held up during it (a
    // busy machine's share); lower bounds on the trip as measured, which load cannot shorten.
    const base = await trips(s);
    assert.ok(base.unstalledMs < 50, `pass-through round trips ${showTrips(base)}`);
    // Added while the connection is open: Toxiproxy re-links live connections.
    p.addToxic({ type: 'latency', attributes: { latency: 60, jitter: 15 } });
    p.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 40 } });
    for (let i = 0; i < 5; i++) {
      const { value: rtt, stalledMs } = await withStalls(() => roundTrip(s));
      const want = `want 100 ± 25 (this process was held up ${stalledMs.toFixed(0)} ms of it)`;
      assert.ok(
        rtt >= 100 - 15 - 2 && rtt - stalledMs <= 100 + 15 + 10 + 15,
        `round trip ${rtt.toFixed(1)} ms, ${want}`,
      );
    }
    p.removeToxic('latency_downstream');
    p.removeToxic('latency_upstream');
    const after = await trips(s);
    assert.ok(after.unstalledMs < 50, `round trips after removing the toxics ${showTrips(after)}`);
    s.destroy();
  } finally {
    await px.close();
    await echo.close();
  }
});

test('latency overlaps the delays of successive chunks: ten chunks 20 ms apart arrive in order about 100 ms after each was sent', async () => {
  const received: { at: number; n: number }[] = [];
  const sink = await tcpServer((s) =>
    s.on('data', (c: Buffer) => {
      for (const b of c) received.push({ at: performance.now(), n: b });
    }),
  );
  const px = await startProxies([{ name: 'p', upstream: sink.address }]);
  try {
    const s = await dial(px.proxy('p')!.port);
    // The upstream connection is up once a byte has gone through.
    s.write(Buffer.from([255]));
    while (received.length === 0) await sleep(2);
    received.length = 0;
    px.proxy('p')!.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 100 } });
    const sentAt: number[] = [];
    const { worstMs, stalledMs } = await withStalls(async () => {
      for (let i = 0; i < 10; i++) {
        sentAt.push(performance.now());
        s.write(Buffer.from([i]));
        await sleep(20);
      }
      // Until all ten arrived, bounded: nine more delays of 100 ms at most would be serialized.
      for (let waitedMs = 0; received.length < 10 && waitedMs < 1200; waitedMs += 5) await sleep(5);
    });
    assert.deepEqual(
      received.map((r) => r.n),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      'in order, nothing lost',
    );
    // None early; most on time (a loaded machine may stall the odd one, not half of them).
    const delays = received.map((r) => r.at - sentAt[r.n]!);
    for (const [n, delay] of delays.entries()) assert.ok(delay >= 98, `chunk ${n} delayed ${delay.toFixed(1)} ms`);
    // Each chunk waits for one timer, which fires as late as this process was held up at once.
    const middle = [...delays].sort((a, b) => a - b)[5]!;
    assert.ok(
      middle < 100 + 25 + worstMs,
      `median delay ${middle.toFixed(1)} ms of ${delays.map((d) => d.toFixed(0))} (held up ${worstMs.toFixed(0)} ms at once)`,
    );
    // Serialized delays would take 10 × 100 ms; overlapped ones take 9 × 20 + 100, and whatever
    // this process was held up in all.
    const span = received.at(-1)!.at - sentAt[0]!;
    assert.ok(
      span < 400 + stalledMs,
      `all ten arrived ${span.toFixed(0)} ms after the first was sent (held up ${stalledMs.toFixed(0)} ms in all)`,
    );
    s.destroy();
  } finally {
    await px.close();
    await sink.close();
  }
});

test('bandwidth limits throughput to rate KB/s (1 KB = 1000 bytes) within 10%', async () => {
  const payload = randomBytes(1_000_000);
  const source = await tcpServer((s) => s.end(payload));
  const px = await startProxies([
    { name: 'p', upstream: source.address, toxics: [{ type: 'bandwidth', attributes: { rate: 2000 } }] },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const { value: r, worstMs } = await withStalls(() => collect(s, 5000));
    assert.equal(r.how, 'end');
    assert.ok(r.bytes.equals(payload), 'same bytes');
    // Never faster, as measured. Slices are timed against a clock of bytes already paid for, so a
    // late timer is caught up by the next one: only the last can make the whole later, by as much
    // as this process was held up at once.
    const rate = payload.length / (r.elapsedMs / 1000) / 1000;
    const unheldRate = payload.length / (Math.max(1, r.elapsedMs - worstMs) / 1000) / 1000;
    const seen = `measured ${rate.toFixed(0)} KB/s for 2000 KB/s (${unheldRate.toFixed(0)} without the ${worstMs.toFixed(0)} ms this process was held up at once)`;
    assert.ok(rate <= 2000 + 200 && unheldRate >= 2000 - 200, seen);
  } finally {
    await px.close();
    await source.close();
  }
});

test('reset_peer aborts the connection with RST: the client sees ECONNRESET, after the timeout', async () => {
  const echo = await echoServer();
  const px = await startProxies([
    { name: 'p', upstream: echo.address, toxics: [{ type: 'reset_peer', attributes: { timeout: 0 } }] },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const r = collect(s);
    s.write('hello');
    assert.equal((await r).how, 'ECONNRESET');
    px.proxy('p')!.updateToxic('reset_peer_downstream', { attributes: { timeout: 200 } });
    const s2 = await dial(px.proxy('p')!.port);
    const r2 = collect(s2);
    s2.write('hello');
    const got = await r2;
    assert.equal(got.how, 'ECONNRESET');
    assert.ok(got.elapsedMs >= 195 && got.elapsedMs < 400, `reset after ${got.elapsedMs.toFixed(0)} ms`);
    assert.equal(got.bytes.length, 0, 'the data that triggered it is dropped');
  } finally {
    await px.close();
    await echo.close();
  }
});

test('timeout lets nothing through and closes after its timeout; 0 holds the connection until the toxic is removed, which closes it', async () => {
  const echo = await echoServer();
  const px = await startProxies([
    {
      name: 'p',
      upstream: echo.address,
      toxics: [{ type: 'timeout', stream: 'upstream', attributes: { timeout: 250 } }],
    },
  ]);
  try {
    const p = px.proxy('p')!;
    const s = await dial(p.port);
    const r = collect(s);
    s.write('hello');
    const got = await r;
    assert.equal(got.bytes.length, 0);
    assert.equal(got.how, 'end');
    assert.ok(got.elapsedMs >= 245 && got.elapsedMs < 450, `closed after ${got.elapsedMs.toFixed(0)} ms`);

    p.updateToxic('timeout_upstream', { attributes: { timeout: 0 } });
    const s2 = await dial(p.port);
    const r2 = collect(s2, 600);
    s2.write('hello');
    const held = await r2;
    assert.equal(held.how, 'open', 'still open after 600 ms');
    assert.equal(held.bytes.length, 0);
    const r3 = collect(s2, 2000);
    p.removeToxic('timeout_upstream');
    assert.equal((await r3).how, 'end', 'removing the toxic closes the connection (as Toxiproxy does)');
    const s3 = await dial(p.port);
    assert.ok((await roundTrip(s3)) < 100, 'new connections flow again');
    s3.destroy();
  } finally {
    await px.close();
    await echo.close();
  }
});

test('slicer delivers the same bytes in many pieces', async () => {
  const payload = randomBytes(16_000);
  const source = await tcpServer((s) => s.end(payload));
  // 16,000 bytes halve into 32 pieces of about 500; 5 ms after each.
  const px = await startProxies([
    {
      name: 'p',
      upstream: source.address,
      toxics: [{ type: 'slicer', attributes: { average_size: 400, size_variation: 100, delay: 5000 } }],
    },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const r = await collect(s);
    assert.equal(r.how, 'end');
    assert.ok(r.bytes.equals(payload), 'identical bytes');
    assert.ok(r.chunks >= 16, `${r.chunks} reads`);
    assert.ok(r.elapsedMs >= 31 * 5, `took ${r.elapsedMs.toFixed(0)} ms`);
  } finally {
    await px.close();
    await source.close();
  }
});

test('limit_data closes the connection after exactly N bytes', async () => {
  const payload = randomBytes(50_000);
  const source = await tcpServer((s) => {
    // In several writes, so that the limit falls inside a chunk.
    for (let off = 0; off < payload.length; off += 7000) s.write(payload.subarray(off, off + 7000));
  });
  const px = await startProxies([
    { name: 'p', upstream: source.address, toxics: [{ type: 'limit_data', attributes: { bytes: 12_345 } }] },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const r = await collect(s);
    assert.equal(r.how, 'end');
    assert.equal(r.bytes.length, 12_345);
    assert.ok(r.bytes.equals(payload.subarray(0, 12_345)));
  } finally {
    await px.close();
    await source.close();
  }
});

test('slow_close holds the FIN for its delay while data flows at once', async () => {
  const source = await tcpServer((s) => s.end('bye'));
  const px = await startProxies([
    { name: 'p', upstream: source.address, toxics: [{ type: 'slow_close', attributes: { delay: 300 } }] },
  ]);
  try {
    const s = await dial(px.proxy('p')!.port);
    const r = await collect(s);
    assert.equal(r.bytes.toString(), 'bye');
    assert.ok(r.firstByteMs < 100, `data after ${r.firstByteMs.toFixed(0)} ms`);
    assert.equal(r.how, 'end');
    assert.ok(r.elapsedMs >= 295 && r.elapsedMs < 500, `FIN after ${r.elapsedMs.toFixed(0)} ms`);
  } finally {
    await px.close();
    await source.close();
  }
});

test('toxicity 0 affects no connection, 1 every one, and 0.5 is rolled once per connection and kept for its life', async () => {
  const echo = await echoServer();
  const px = await startProxies([
    { name: 'p', upstream: echo.address, toxics: [{ type: 'latency', toxicity: 0, attributes: { latency: 150 } }] },
  ]);
  try {
    const p = px.proxy('p')!;
    const rtts = async (conns: number, trips: number) => {
      const sockets = await Promise.all(Array.from({ length: conns }, () => dial(p.port)));
      // Connections side by side, round trips one after the other on each.
      return Promise.all(
        sockets.map(async (s) => {
          const mine: number[] = [];
          for (let i = 0; i < trips; i++) mine.push(await roundTrip(s));
          s.destroy();
          return mine;
        }),
      );
    };
    // 150 ms apart: a loaded machine may slow a round trip, never by that much on most of them.
    // Unaffected: the fastest trip is quick; affected: every trip is slow.
    for (const r of await rtts(10, 3)) assert.ok(Math.min(...r) < 100, `toxicity 0: ${r}`);
    p.updateToxic('latency_downstream', { toxicity: 1 });
    for (const r of await rtts(10, 2))
      assert.ok(
        r.every((ms) => ms >= 148),
        `toxicity 1: ${r}`,
      );
    p.updateToxic('latency_downstream', { toxicity: 0.5 });
    const before = p.stats().toxics[0]!.connectionsAffected;
    const mixed = await rtts(40, 4);
    let slow = 0;
    for (const r of mixed) {
      // The first trip warms up; an affected connection then has every trip delayed, an unaffected
      // one most (a loaded machine may stall one).
      const trips = r.slice(1);
      const affected = trips.every((ms) => ms >= 148);
      const unaffected = Math.min(...trips) < 100;
      assert.ok(affected !== unaffected, `a connection is all slow or all fast: ${r.map((x) => x.toFixed(0))}`);
      if (affected) slow++;
    }
    assert.ok(slow >= 8 && slow <= 32, `${slow} of 40 connections affected at toxicity 0.5`);
    assert.equal(
      p.stats().toxics[0]!.connectionsAffected - before,
      slow,
      'the affected count matches what was measured',
    );
  } finally {
    await px.close();
    await echo.close();
  }
});
