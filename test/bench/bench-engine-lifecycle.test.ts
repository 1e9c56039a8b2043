// How a bench run starts, ends and fails: warm-up with -n, -n below -c, a target that dies, a run
// where nothing succeeds, Ctrl-C. Counts are checked against what the server itself saw.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { interruptCli, runCli } from '../helpers/cli.ts';
import { httpServer, hello } from '../helpers/servers.ts';

interface Result {
  connections: number;
  workers: number;
  durationS: number;
  requests: { total: number; ok: number; failed: number };
  latencyMs: { max: number };
  statuses: Record<string, number>;
  connectionsOpened: number;
  connectErrors?: number;
  errors: Record<string, number>;
  interrupted?: boolean;
  gaveUp?: boolean;
  warmupS?: number;
  connectionsFromWarmup?: number;
}

async function bench(args: string[], code = 0): Promise<Result> {
  const r = await runCli(['bench', ...args, '--json', '--no-kernel'], { timeoutMs: 60_000 });
  assert.equal(r.code, code, r.stderr);
  return JSON.parse(r.stdout) as Result;
}

test('--warmup with -n: warm-up requests are sent but not counted, then exactly -n are measured', async () => {
  // The first request of each of the 4 connections is answered after 1.5 s, long after the 0.2 s
  // warm-up ended: it belongs to warm-up, so neither its count nor its latency may show.
  const server = await httpServer((_req, res, n) => (n <= 4 ? setTimeout(() => res.end('slow'), 1500) : res.end('x')));
  try {
    const r = await bench([server.url, '-n', '500', '-c', '4', '--warmup', '0.2']);
    assert.equal(r.requests.total, 500);
    assert.equal(r.statuses['200'], 500);
    assert.equal(server.count(), 504, 'the server saw the 4 warm-up requests and the 500 measured');
    assert.ok(r.latencyMs.max < 1500, `a warm-up request's latency was recorded: max ${r.latencyMs.max} ms`);
  } finally {
    await server.close();
  }
});

test('--warmup with -n and pipelining: the server sees warm-up plus exactly -n', async () => {
  const server = await httpServer(hello);
  try {
    const r = await bench([server.url, '-n', '1000', '-c', '4', '-p', '4', '--warmup', '0.3']);
    assert.equal(r.requests.total, 1000);
    assert.equal(r.requests.ok, 1000);
    assert.ok(server.count() > 1000, `warm-up sent requests too: the server saw ${server.count()}`);
  } finally {
    await server.close();
  }
});

test('--warmup: the connections warm-up opened are reported as such (the server counts them), and the warm-up is in the result', async () => {
  let accepted = 0;
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, (_req, res) => res.end('x'));
  server.on('connection', () => accepted++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  try {
    const r = await bench([url, '-d', '0.5', '-c', '4', '--warmup', '0.3']);
    // bench's check of the target is one connection; the 4 of the run opened during warm-up and stayed.
    assert.equal(accepted, 1 + 4);
    assert.equal(r.connectionsOpened, 0);
    assert.equal(r.connectionsFromWarmup, 4);
    assert.equal(r.warmupS, 0.3);
    const text = await runCli(['bench', url, '-d', '0.5', '-c', '4', '--warmup', '0.3', '--no-kernel'], {
      timeoutMs: 60_000,
    });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /after 0\.3 s of warm-up\n/);
    assert.match(text.stdout, /\nConnections 0 opened, 4 open from warm-up\n/);
    // Without a warm-up there is nothing to report apart.
    const plain = await bench([url, '-n', '20', '-c', '2']);
    assert.equal(plain.connectionsOpened, 2);
    assert.equal(plain.connectionsFromWarmup, undefined);
    assert.equal(plain.warmupS, undefined);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('-n below -c opens only n connections and reports them; the duration is the real one', async () => {
  const server = await httpServer(hello);
  try {
    const r = await bench([server.url, '-n', '5']);
    assert.equal(r.connections, 5);
    assert.equal(r.connectionsOpened, 5);
    assert.equal(r.requests.total, 5);
    assert.equal(server.count(), 5);
    assert.ok(r.durationS > 0 && r.durationS < 5, `duration ${r.durationS}`);
    // -w 2 needs two connections; with -n 1 there is work for one thread.
    const one = await bench([server.url, '-n', '1', '-w', '2']);
    assert.equal(one.connections, 1);
    assert.equal(one.workers, 1);
    assert.equal(one.requests.total, 1);
  } finally {
    await server.close();
  }
});

const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx';

/**
 * A keep-alive HTTP server that answers `last` requests and then dies at once: it stops listening
 * first, then drops its connections. In the other order (how TestServer.close goes) a client that
 * saw its connection drop could reconnect before the listener closed: the kernel completed that
 * handshake and reset it when the listener closed, so the run really sent a request more on each
 * such connection (total went from served + 4 up to served + 8, half of the runs on two busy cores).
 */
async function dyingServer(last: number): Promise<{ url: string; count(): number; close(): void }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (chunk) => {
      // A bench GET is one small segment without a body: each blank line ends one request.
      for (let i = chunk.indexOf('\r\n\r\n'); i !== -1 && n < last; i = chunk.indexOf('\r\n\r\n', i + 4)) {
        n++;
        s.write(ANSWER);
        if (n === last) {
          server.close();
          for (const x of sockets) x.destroy();
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    count: () => n,
    close: () => {
      for (const x of sockets) x.destroy();
      server.close();
    },
  };
}

test('a target that dies mid-run: refused connects are counted apart from requests, and retried with a pause', async () => {
  const server = await dyingServer(100);
  try {
    const r = await bench([server.url, '-d', '2', '-c', '4']);
    const served = server.count();
    assert.equal(served, 100);
    assert.ok(r.requests.ok >= 95 && r.requests.ok <= served, `ok ${r.requests.ok}`);
    // The kernel refused every reconnect once the listener was gone: no connection beyond the first 4.
    assert.equal(r.connectionsOpened, 4);
    // What was really sent: the 100 the server saw, and at most the one in flight on each connection when it went.
    assert.ok(
      r.requests.total >= served && r.requests.total <= served + 4,
      `total ${r.requests.total}, served ${served}`,
    );
    assert.equal(r.requests.failed, r.requests.total - r.requests.ok);
    assert.ok((r.errors.ECONNREFUSED ?? 0) > 0, JSON.stringify(r.errors));
    assert.equal(r.connectErrors, r.errors.ECONNREFUSED, 'every failed connect is counted, by code');
    // 10 ms, 20 ms, … doubling up to 1 s: at most 8 attempts per connection in 2 s. Without a pause
    // the client tried tens of thousands.
    assert.ok(r.connectErrors! <= 4 * 9, `connect attempts ${r.connectErrors}`);
  } finally {
    server.close();
  }
});

/** Accepts the one connection bench makes to check the target, then stops listening: every connect of the run is refused. */
async function listensForTheCheckOnly(): Promise<string> {
  const server = createNetServer((s) => {
    s.destroy();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}

test('-n against a target that refuses every connection: nothing is counted as sent, the run gives up, exit 1', async () => {
  const started = Date.now();
  const r = await bench([await listensForTheCheckOnly(), '-n', '100', '-c', '2', '--connect-timeout', '0.5'], 1);
  assert.ok(Date.now() - started < 20_000);
  // On a busy machine one of the 2 connections may get in before the listener is gone; the kernel
  // then resets it, and its request was sent and failed. Refused connects are never requests.
  assert.ok(
    r.requests.total <= 2 && r.requests.ok === 0 && r.requests.failed === r.requests.total,
    JSON.stringify(r.requests),
  );
  assert.equal(r.gaveUp, true);
  assert.ok((r.errors.ECONNREFUSED ?? 0) > 0 && r.connectErrors === r.errors.ECONNREFUSED, JSON.stringify(r));
  // The table says it gave up and why nothing was measured, instead of a table of zeros.
  const text = await runCli(
    ['bench', await listensForTheCheckOnly(), '-n', '100', '-c', '2', '--connect-timeout', '0.5', '--no-kernel'],
    { timeoutMs: 60_000 },
  );
  assert.equal(text.code, 1, text.stderr);
  const gaveUp =
    /^Gave up after \d.*: every connection attempt failed for --connect-timeout in a row, so fewer requests than -n were sent \((\d)\)$/.exec(
      text.stdout.split('\n')[1]!,
    );
  assert.ok(gaveUp, text.stdout);
  if (gaveUp[1] === '0') assert.match(text.stdout, /\nNo connection could be opened \(\d+ attempts?\): ECONNREFUSED /);
  assert.doesNotMatch(text.stdout, /Every one of 0/);
});

test('a run where every request fails prints its result and exits 1', async () => {
  const server = await httpServer((req) => req.socket.destroy());
  try {
    const r = await runCli(['bench', server.url, '-n', '20', '-c', '2', '--no-kernel'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /failed/, 'the result is printed');
    const json = await bench([server.url, '-n', '20', '-c', '2'], 1);
    assert.equal(json.requests.failed, 20);
    // HTTP error statuses are answers: a run of 404s measured something.
    const notFound = await httpServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    try {
      const r404 = await bench([notFound.url, '-n', '20', '-c', '2']);
      assert.equal(r404.statuses['404'], 20);
    } finally {
      await notFound.close();
    }
  } finally {
    await server.close();
  }
});

test('Ctrl-C prints the partial result marked interrupted and exits 130, in JSON and in the table', async () => {
  const server = await httpServer(hello);
  try {
    const json = await interruptCli(['bench', server.url, '-d', '30', '-c', '4', '--json', '--no-kernel'], server);
    assert.equal(json.code, 130);
    const r = JSON.parse(json.stdout) as Result;
    assert.equal(r.interrupted, true);
    assert.ok(r.requests.ok > 0 && r.requests.ok <= server.count(), `ok ${r.requests.ok}, served ${server.count()}`);
    assert.ok(r.durationS < 25, `duration ${r.durationS}`);
    // The table marks the result partial, right under its header, and still shows what was measured.
    const text = await interruptCli(['bench', server.url, '-d', '30', '-c', '4', '--no-kernel'], server);
    assert.equal(text.code, 130);
    assert.match(text.stdout.split('\n')[1]!, /^Interrupted after \d.* \(Ctrl-C\): a partial result$/);
    assert.match(text.stdout, /\nRequests {3}[\d,]+ total/);
  } finally {
    await server.close();
  }
});
