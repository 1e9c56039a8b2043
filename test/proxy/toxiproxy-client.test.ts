// The npm toxiproxy-node-client, unchanged, drives tcplens proxy's API; each effect is measured
// through the proxy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { Toxiproxy, ToxiproxyError } from 'toxiproxy-node-client';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, dial, echoes, echoServer, showTrips, trips } from './helpers.ts';

function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

async function refused(port: number): Promise<boolean> {
  const s = connect({ host: '127.0.0.1', port });
  try {
    await once(s, 'connect');
    s.destroy();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

test('toxiproxy-node-client: create, list, add latency, read it back, update, remove, reset_peer, reset, disable, delete, populate', async () => {
  const echo = await echoServer();
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const toxiproxy = new Toxiproxy(server.apiUrl!);
    assert.match(await toxiproxy.getVersion(), /"version"/);

    // create: "localhost:0" comes back as the bound address.
    const proxy = await toxiproxy.createProxy({ name: 'echo', listen: 'localhost:0', upstream: echo.address });
    assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/);
    assert.equal(proxy.enabled, true);
    const port = portOf(proxy.listen);
    const all = await toxiproxy.getAll();
    assert.deepEqual(Object.keys(all), ['echo']);
    assert.equal(all.echo!.upstream, echo.address);

    const conn = await dial(port);
    // Upper bounds are on the fastest trip less the time this process (client, proxy and echo)
    // was held up during it; lower bounds on the trip as measured, which load cannot shorten.
    const plain = await trips(conn);
    assert.ok(plain.unstalledMs < 99, `no toxic: faster than the latency added below: ${showTrips(plain)}`);

    // add latency and read it back
    const toxic = await proxy.addToxic({
      name: 'slow',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 100, jitter: 0 },
    });
    assert.deepEqual(toxic.toJson(), {
      attributes: { latency: 100, jitter: 0 },
      name: 'slow',
      stream: 'downstream',
      toxicity: 1,
      type: 'latency',
    });
    const readBack = await proxy.getToxic('slow');
    assert.deepEqual(readBack.toJson(), toxic.toJson());
    const slow = await trips(conn);
    assert.ok(slow.fastestMs >= 99 && slow.unstalledMs < 100 + 10 + 15, `latency 100: round trips ${showTrips(slow)}`);

    // update (the client POSTs), then remove
    const updated = await readBack.update({
      name: 'slow',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 40, jitter: 0 },
    });
    assert.equal((updated.attributes as { latency: number }).latency, 40);
    const faster = await trips(conn);
    assert.ok(faster.fastestMs >= 39 && faster.unstalledMs < 40 + 25, `latency 40: round trips ${showTrips(faster)}`);
    await updated.remove();
    const removed = await trips(conn);
    assert.ok(removed.unstalledMs < 39, `removed: faster than the 40 ms it had: ${showTrips(removed)}`);
    await assert.rejects(proxy.getToxic('slow'), (e: Error) => e instanceof ToxiproxyError && /404/.test(e.message));

    // reset_peer: the client sees ECONNRESET
    await proxy.addToxic({
      name: 'rst',
      type: 'reset_peer',
      stream: 'downstream',
      toxicity: 1,
      attributes: { timeout: 0 },
    });
    const victim = await dial(port);
    const got = collect(victim);
    victim.write('x');
    assert.equal((await got).how, 'ECONNRESET');

    // reset: toxics gone, the effect too
    await proxy.addToxic({
      name: 'slow2',
      type: 'latency',
      stream: 'upstream',
      toxicity: 1,
      attributes: { latency: 200, jitter: 0 },
    });
    assert.equal((await toxiproxy.get('echo')).toJson().name, 'echo');
    await toxiproxy.reset();
    const afterReset = await toxiproxy.getApi().get(`${server.apiUrl}/proxies/echo/toxics`);
    assert.deepEqual(afterReset.data, []);
    const fresh = await dial(port);
    const reset = await trips(fresh);
    assert.ok(reset.unstalledMs < 199, `after reset: the 200 ms toxic no longer acts: ${showTrips(reset)}`);

    // disable ("down"): the listener closes and open connections are cut; enable brings it back on the same port
    const cut = collect(fresh);
    const down = await proxy.update({ enabled: false, listen: proxy.listen, upstream: echo.address });
    assert.equal(down.enabled, false);
    assert.equal((await cut).how, 'end');
    assert.ok(await refused(port), 'down: connection refused');
    const up = await down.update({ enabled: true, listen: proxy.listen, upstream: echo.address });
    assert.equal(up.listen, proxy.listen);
    const again = await dial(port);
    assert.ok(await echoes(again));
    again.destroy();
    conn.destroy();

    // errors come back as the client's ToxiproxyError with the status code
    await assert.rejects(
      toxiproxy.createProxy({ name: 'echo', listen: 'localhost:0', upstream: echo.address }),
      /status code 409/,
    );
    await assert.rejects(toxiproxy.get('nope'), /status code 404/);

    // delete
    await up.remove();
    assert.deepEqual(Object.keys(await toxiproxy.getAll()), []);
    assert.ok(await refused(port), 'deleted: connection refused');

    // populate (an array, as the client sends it)
    const populated = await toxiproxy.populate([
      { name: 'a', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'b', listen: '127.0.0.1:0', upstream: echo.address, enabled: false },
    ]);
    assert.deepEqual(Object.keys(populated).sort(), ['a', 'b']);
    assert.equal(populated.b!.enabled, false);
    const viaA = await dial(portOf(populated.a!.listen));
    assert.ok(await echoes(viaA));
    viaA.destroy();
  } finally {
    await server.close();
    await echo.close();
  }
});
