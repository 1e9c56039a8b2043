// Toxicity 0 means no effect at all: toxics that would reset, stall, cut or close every connection
// at toxicity 1, added, updated and removed again and again at toxicity 0 while bytes flow, leave
// live and new connections exactly as a proxy without toxics would (Toxiproxy #603: a reset_peer
// at toxicity 0 still reset some connections).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { collect, dial, echoServer, roundTrip, sleep, startProxies } from './helpers.ts';
import type { ToxicConfig } from '../../src/proxy/toxic-set.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** At toxicity 1 each of these ends, stalls or breaks a connection at once. */
function harmful(stream: 'upstream' | 'downstream', toxicity: number): ToxicConfig[] {
  const s = stream[0];
  return [
    { name: `reset_${s}`, type: 'reset_peer', stream, toxicity, attributes: { timeout: 0 } },
    { name: `timeout_${s}`, type: 'timeout', stream, toxicity, attributes: { timeout: 0 } },
    { name: `limit_${s}`, type: 'limit_data', stream, toxicity, attributes: { bytes: 1 } },
    { name: `latency_${s}`, type: 'latency', stream, toxicity, attributes: { latency: 60_000 } },
    { name: `bandwidth_${s}`, type: 'bandwidth', stream, toxicity, attributes: { rate: 1 } },
    { name: `slicer_${s}`, type: 'slicer', stream, toxicity, attributes: { average_size: 1, delay: 1_000_000 } },
    { name: `slow_close_${s}`, type: 'slow_close', stream, toxicity, attributes: { delay: 60_000 } },
  ];
}

test('toxicity 0: toxics that would break every connection, added, updated and removed 20 times while 4 MiB flow both ways, change nothing', async () => {
  const echo = await echoServer();
  const px = await startProxies([{ name: 'p', upstream: echo.address }]);
  try {
    const p = px.proxy('p')!;
    // A connection open before any toxic, streaming the whole time.
    const payload = randomBytes(4 * 1024 * 1024);
    const streaming = await dial(p.port);
    const echoed = collect(streaming, 60_000);
    let sent = 0;
    const writer = (async () => {
      while (sent < payload.length) {
        const piece = payload.subarray(sent, sent + 64 * 1024);
        sent += piece.length;
        if (!streaming.write(piece)) await new Promise((r) => streaming.once('drain', r));
        await sleep(1);
      }
      streaming.end();
    })();
    const toxics = [...harmful('upstream', 0), ...harmful('downstream', 0)];
    let trips = 0;
    for (let round = 0; round < 20; round++) {
      for (const t of toxics) p.addToxic(t);
      // A connection made while they are there: echoes, and its end reaches the client at once.
      const fresh = await dial(p.port);
      await roundTrip(fresh, Buffer.from(`round ${round}`));
      trips++;
      for (const t of toxics) p.updateToxic(t.name!, { attributes: { ...t.attributes } });
      const ended = collect(fresh, 30_000);
      fresh.end();
      const r = await ended;
      assert.equal(r.how, 'end', `a new connection in round ${round} ended with ${r.how}`);
      for (const t of toxics) p.removeToxic(t.name!);
    }
    await writer;
    const got = await echoed;
    assert.equal(got.how, 'end', `the streaming connection ended with ${got.how}`);
    assert.equal(got.bytes.length, payload.length);
    assert.equal(sha(got.bytes), sha(payload), 'every byte echoed, in order');
    assert.equal(trips, 20);
    const stats = p.stats();
    assert.equal(stats.droppedUpstream + stats.droppedDownstream, 0, 'no byte dropped');
    assert.equal(stats.connectionsRejected + stats.upstreamFailures, 0);
  } finally {
    await px.close();
    await echo.close();
  }
});

test('toxicity 0 counts no affected connection, and the same toxics at toxicity 1 do break a connection (the check above can fail)', async () => {
  const echo = await echoServer();
  const px = await startProxies([{ name: 'p', upstream: echo.address }]);
  try {
    const p = px.proxy('p')!;
    const zero = harmful('downstream', 0);
    for (const t of zero) p.addToxic(t);
    const s = await dial(p.port);
    await roundTrip(s);
    s.destroy();
    for (const t of p.stats().toxics) assert.equal(t.connectionsAffected, 0, `${t.name} at toxicity 0`);
    // The reset at toxicity 1: the next connection gets an RST.
    p.updateToxic('reset_d', { toxicity: 1 });
    const hit = await dial(p.port);
    const got = collect(hit, 10_000);
    hit.write('ping');
    const r = await got;
    assert.equal(r.how, 'ECONNRESET', `at toxicity 1 the connection ended with ${r.how}`);
    // This one, and the first if the proxy had not yet seen it close when the toxicity changed.
    assert.ok(p.stats().toxics.find((t) => t.name === 'reset_d')!.connectionsAffected >= 1);
  } finally {
    await px.close();
    await echo.close();
  }
});
