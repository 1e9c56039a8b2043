// bench against a server in another namespace over a veth pair (the normal, remote setup): the
// verdict's TIME_WAIT side, warm-up left out of the kernel section, and --compare's own counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;
const SKIP = !root && 'needs root for network namespaces';
const SERVER = '198.18.77.2';

interface Pair {
  client: Netns;
  server: Netns;
  close(): void;
}

/** A client and a server namespace joined by a veth pair: the server is not on the client's host. */
function pair(): Pair {
  const client = createNetns('tcplens-test-rc');
  let server: Netns | undefined;
  try {
    server = createNetns('tcplens-test-rs');
    const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    ip(['-n', client.name, 'link', 'add', 'tlc0', 'type', 'veth', 'peer', 'name', 'tls0', 'netns', server.name]);
    ip(['-n', client.name, 'addr', 'add', '198.18.77.1/30', 'dev', 'tlc0']);
    ip(['-n', server.name, 'addr', 'add', `${SERVER}/30`, 'dev', 'tls0']);
    ip(['-n', client.name, 'link', 'set', 'tlc0', 'up']);
    ip(['-n', server.name, 'link', 'set', 'tls0', 'up']);
  } catch (err) {
    server?.close();
    client.close();
    throw err;
  }
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
    },
  };
}

/**
 * A raw server in the server namespace. closeFirst: a body that runs to the end of the stream, so the
 * response is complete only at the server's FIN and the server always closes first (it holds the
 * TIME_WAIT); otherwise it keeps every connection and the client closes first.
 */
async function serve(ns: Netns, closeFirst: boolean): Promise<ChildProcess> {
  const reply = closeFirst ? `'HTTP/1.1 200 OK\\r\\n\\r\\nx'` : `'HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nx'`;
  const code = `require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.${closeFirst ? 'end' : 'write'}(${reply})); })
    .listen(8080, '${SERVER}', () => console.log('ready'));`;
  const server = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(createInterface({ input: server.stdout! }), 'line');
  return server;
}

/** TIME_WAIT sockets in a namespace, by ss (the oracle). */
function ssTimeWait(ns: Netns): number {
  const text = execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'ss', '-Htan', 'state', 'time-wait'], {
    encoding: 'utf8',
  });
  return text.split('\n').filter((l) => l.trim()).length;
}

/**
 * Connections per run, bounded by count rather than time: connect() takes even ports first, so past about
 * 14,000 connections (half of the default 28,232-port range) a fast run reuses ports whose 4-tuples the
 * server still holds in TIME_WAIT, and the kernel recycles those (a run of 14,548 left 9,681).
 */
const REQUESTS = 3000;

const texts = (r: { verdict: { text: string }[] }) => r.verdict.map((v) => v.text).join('\n');

test('against a server in another namespace that closes first, the verdict says the server closed first, not that this client holds the TIME_WAIT', {
  skip: SKIP,
}, async () => {
  const p = pair();
  try {
    await serve(p.server, true);
    const r = await runCli(
      ['bench', `http://${SERVER}:8080/`, '--no-keepalive', '-n', String(REQUESTS), '-c', '4', '--json'],
      { prefix: p.client.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const clientTw = ssTimeWait(p.client);
    const serverTw = ssTimeWait(p.server);
    // The oracle: ss sees the TIME_WAIT on the server's side, next to none on the client's.
    assert.ok(result.connectionsOpened >= 50, `connections ${result.connectionsOpened}`);
    assert.ok(
      serverTw >= result.connectionsOpened * 0.8,
      `ss: server ${serverTw} TIME_WAIT for ${result.connectionsOpened} connections`,
    );
    assert.ok(clientTw < result.connectionsOpened * 0.1, `ss: client ${clientTw}`);
    assert.equal(result.kernel.targetIsLocal, false);
    const v = texts(result);
    assert.doesNotMatch(v, /this client holds the TIME_WAIT/, v);
    assert.doesNotMatch(v, /EADDRNOTAVAIL ahead/, v);
    assert.match(
      v,
      /the server closed first \(this client holds \d+ TIME_WAIT for [\d,]+ connections\), so this client's ports are freed at once/,
      v,
    );
  } finally {
    p.close();
  }
});

test('against a server in another namespace that keeps connections, the client closes first and the verdict says this client holds the TIME_WAIT', {
  skip: SKIP,
}, async () => {
  const p = pair();
  try {
    await serve(p.server, false);
    const r = await runCli(
      ['bench', `http://${SERVER}:8080/`, '--no-keepalive', '-n', String(REQUESTS), '-c', '4', '--json'],
      { prefix: p.client.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const clientTw = ssTimeWait(p.client);
    assert.ok(
      clientTw >= result.connectionsOpened * 0.8,
      `ss: client ${clientTw} TIME_WAIT for ${result.connectionsOpened} connections`,
    );
    assert.match(texts(result), /this client holds the TIME_WAIT \(it closed first/, texts(result));
  } finally {
    p.close();
  }
});

test('after --warmup the kernel section counts only the measured part: ActiveOpens as many as connections opened, warm-up TIME_WAIT as there at start', {
  skip: SKIP,
}, async () => {
  const p = pair();
  try {
    await serve(p.server, false);
    const r = await runCli(
      ['bench', `http://${SERVER}:8080/`, '--no-keepalive', '--warmup', '1', '-d', '1', '-c', '4', '-w', '1', '--json'],
      { prefix: p.client.exec, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const k = result.kernel;
    const opened = result.connectionsOpened as number;
    const activeOpens = k.counters['Tcp.ActiveOpens'] as number;
    // The kernel's own count of connects: the measured ones (give or take those in flight as warm-up and the run ended), not warm-up's too.
    // A connect that failed (a busy machine can make one time out) sent its SYN all the same.
    const attempts = opened + ((result.connectErrors as number | undefined) ?? 0);
    assert.ok(
      Math.abs(activeOpens - attempts) <= 16 + opened * 0.02,
      `ActiveOpens +${activeOpens} for ${opened} connections opened and ${attempts - opened} failed`,
    );
    // Warm-up's TIME_WAIT was there when measuring began, and is not this run's.
    assert.ok(k.timeWaitAtStart >= 20, `timeWaitAtStart ${k.timeWaitAtStart}`);
    assert.ok(
      Math.abs(k.timeWaitAddedClientSide - opened) <= 16 + opened * 0.02,
      `added ${k.timeWaitAddedClientSide}, opened ${opened}`,
    );
    // ss (the oracle) sees warm-up's and the run's together, no more.
    assert.ok(
      Math.abs(ssTimeWait(p.client) - (k.timeWaitAtStart + k.timeWaitAddedClientSide)) <= 16 + opened * 0.02,
      `ss ${ssTimeWait(p.client)}`,
    );
  } finally {
    p.close();
  }
});

test("--compare close,keepalive gives keep-alive its own TIME_WAIT, not the close run's", { skip: SKIP }, async () => {
  const p = pair();
  try {
    await serve(p.server, false);
    const args = ['bench', `http://${SERVER}:8080/`, '--compare', 'close,keepalive', '-d', '1', '-c', '4'];
    const r = await runCli([...args, '--json'], { prefix: p.client.exec, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const [close, ka] = JSON.parse(r.stdout).runs;
    const afterTw = ssTimeWait(p.client);
    assert.ok(close.kernel.timeWaitAdded >= 50, `close added ${close.kernel.timeWaitAdded}`);
    // ss after both runs: the close run's TIME_WAIT is still there (60 s), keep-alive added at most its 4 connections.
    assert.ok(afterTw >= close.kernel.timeWaitAdded * 0.9, `ss ${afterTw}`);
    assert.ok(
      ka.kernel.timeWaitAtStart >= close.kernel.timeWaitAdded * 0.9,
      `keep-alive at start ${ka.kernel.timeWaitAtStart}`,
    );
    assert.ok(ka.kernel.timeWaitAdded <= 4, `keep-alive added ${ka.kernel.timeWaitAdded}`);
    assert.match(texts(ka), new RegExp(`this run added ${ka.kernel.timeWaitAdded} TIME_WAIT`), texts(ka));
    const text = await runCli(args, { prefix: p.client.exec, timeoutMs: 60_000 });
    const row = text.stdout.split('\n').find((l) => l.startsWith('keep-alive'))!;
    const twColumn = Number(
      row
        .trim()
        .split(/\s{2,}/)[4]!
        .replace(/,/g, ''),
    );
    assert.ok(twColumn <= 4, `keep-alive row: ${row}`);
  } finally {
    p.close();
  }
});
