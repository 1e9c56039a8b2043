import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createNetns } from '../../src/kernel/netns.ts';
import { has, streamCli } from './live.ts';
import { countingDrops, nstatIn, overflowListener } from './overflow.ts';

const FORMAT = '/sys/kernel/tracing/events/skb/kfree_skb/format';
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['bpftrace', 'nft', 'nstat', 'python3'] as const).find((c) => !has(c))
    ? 'needs bpftrace, nft, nstat and python3'
    : !readFileSync(FORMAT, 'utf8').includes('"TCP_LISTEN_OVERFLOW"')
      ? 'this kernel has no TCP_LISTEN_OVERFLOW drop reason'
      : false;

test('an accept-queue overflow: as many TCP_LISTEN_OVERFLOW drops as an independent bpftrace counts, owned by the listener', {
  skip,
}, async () => {
  const ns = createNetns('tcplens-test-drop');
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const server = await overflowListener(ns, port);
  const cli = streamCli(['trace', '--json', '--events', 'drop', '--port', String(port)]);
  let oracle: Awaited<ReturnType<typeof countingDrops>> | undefined;
  try {
    await cli.waitFor((l) => l.type === 'start', 90_000);
    oracle = await countingDrops('TCP_LISTEN_OVERFLOW', port);
    const before = nstatIn(ns, 'TcpExtListenOverflows');
    await server.run();
    const overflows = nstatIn(ns, 'TcpExtListenOverflows') - before;
    const counted = await oracle.stop();
    assert.equal(await cli.stop(), 0, cli.stderr());

    const drops = cli.lines.filter((l) => l.type === 'drop');
    const overflow = drops.filter((l) => l.reason === 'TCP_LISTEN_OVERFLOW');
    assert.ok(counted > 0, 'the oracle saw the overflow');
    assert.equal(overflow.length, counted);
    for (const d of overflow) {
      assert.equal(d.sport, port, 'the local end is the listener');
      assert.equal(d.direction, 'in');
      assert.equal(d.pid, server.pid, `owned by the listener: ${JSON.stringify(d)}`);
      assert.equal(typeof d.sk, 'string', 'the socket the kernel found');
    }
    // The summary counts the same, by reason and port; the counter saw at least every one.
    const summary = cli.lines.at(-1)!;
    const byReason = (summary.drops as { reason: string; port: number; count: number }[]).find(
      (d) => d.reason === 'TCP_LISTEN_OVERFLOW' && d.port === port,
    );
    assert.equal(byReason?.count, counted);
    assert.ok(overflows >= counted, `ListenOverflows +${overflows}`);
  } finally {
    oracle?.kill();
    await cli.stop('SIGKILL');
    server.close();
    ns.close();
  }
});
