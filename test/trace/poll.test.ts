import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { startPoll } from '../../src/trace/poll.ts';
import type { TraceEvent } from '../../src/trace/event.ts';
import { connection, has, listen, ssTimeWait } from './live.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the fallback reports ESTABLISHED and TIME_WAIT of connections that outlive the interval, labelled sampled', {
  skip: !has('ss') && 'ss is not installed',
}, async () => {
  const server = createServer((s) => s.on('error', () => {}).resume());
  const port = await listen(server);
  const events: TraceEvent[] = [];
  const handle = startPoll({ intervalMs: 50, ports: [port] }, { event: (e) => events.push(e) });
  try {
    // Three connections live 300 ms (six intervals), then the client closes first: its end goes to TIME_WAIT.
    const clients = await Promise.all(
      [1, 2, 3].map(() => connection('127.0.0.1', port, (s) => setTimeout(() => s.resume().end(), 300))),
    );
    await sleep(300);
    await handle.close();
    const tw = ssTimeWait();
    for (const client of clients) {
      const mine = events.filter((e) => e.sport === client && e.dport === port);
      const theirs = events.filter((e) => e.sport === port && e.dport === client);
      assert.ok(
        mine.some((e) => e.oldState === null && e.newState === 'ESTABLISHED'),
        `client ${client}: ${JSON.stringify(mine)}`,
      );
      assert.ok(
        theirs.some((e) => e.oldState === null && e.newState === 'ESTABLISHED'),
        `server end of ${client}`,
      );
      const toTw = mine.find((e) => e.newState === 'TIME_WAIT');
      assert.ok(toTw, `client ${client} entered TIME_WAIT`);
      assert.ok(toTw.ms !== null && toTw.ms >= 50, 'time in the old state, to the interval');
      assert.ok(tw.has(`127.0.0.1:${client} 127.0.0.1:${port}`), 'ss agrees');
      assert.ok(!theirs.some((e) => e.newState === 'TIME_WAIT'), 'the passive closer never holds TIME_WAIT');
    }
    assert.ok(events.every((e) => e.sampled === true && e.type === 'state' && e.pid === null));
  } finally {
    await handle.close();
    await new Promise((r) => server.close(r));
  }
});

test('the fallback takes its first snapshot as the baseline, and finds owners with --pid', async () => {
  const server = createServer((s) => s.on('error', () => {}).resume());
  const port = await listen(server);
  const events: TraceEvent[] = [];
  const before = connect({ host: '127.0.0.1', port });
  await new Promise((r) => before.once('connect', r));
  const handle = startPoll({ intervalMs: 30, ports: [port], pids: [process.pid] }, { event: (e) => events.push(e) });
  try {
    const after = connect({ host: '127.0.0.1', port });
    await new Promise((r) => after.once('connect', r));
    await sleep(200);
    assert.ok(
      !events.some((e) => e.sport === before.localPort || e.dport === before.localPort),
      'no event for a connection older than the trace',
    );
    const seen = events.filter((e) => e.sport === after.localPort);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.pid, process.pid);
    assert.equal(seen[0]!.newState, 'ESTABLISHED');
    before.destroy();
    after.destroy();
  } finally {
    await handle.close();
    await new Promise((r) => server.close(r));
  }
});
