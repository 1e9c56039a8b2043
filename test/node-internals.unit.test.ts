// Canaries for the Node internals in src/node-internals.ts: each test fails, naming the internal,
// when a Node release removes or changes what tcplens relies on, instead of a fallback hiding it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  connectionsCheckingInterval,
  legacyBinding,
  nodeHttpParser,
  responseInProgress,
  setConnectionsCheckingInterval,
  socketHandle,
  tcpSocketUnderTls,
} from '../src/node-internals.ts';
import { fastPath } from '../src/bench/transport.ts';
import { rawHandleOf } from '../src/proxy/raw-stream.ts';
import { selfSignedCertificate } from '../src/http/self-signed.ts';
import { llhttpParse } from './helpers/llhttp.ts';

const functions = (o: Record<string, unknown> | undefined, names: string[]) =>
  names.filter((n) => typeof o?.[n] !== 'function');

test(`process.binding('tcp_wrap') has the TCP handle and connect request bench drives (Node ${process.version})`, () => {
  const tcp = legacyBinding('tcp_wrap');
  assert.ok(tcp, "process.binding('tcp_wrap') is gone: bench falls back to net.Socket");
  assert.deepEqual(functions(tcp, ['TCP', 'TCPConnectWrap']), [], 'tcp_wrap classes missing');
  const proto = (tcp.TCP as { prototype: Record<string, unknown> }).prototype;
  const methods = [
    'useUserBuffer',
    'connect',
    'connect6',
    'readStart',
    'readStop',
    'writeBuffer',
    'shutdown',
    'setNoDelay',
    'close',
  ];
  assert.deepEqual(functions(proto, methods), [], 'TCP handle methods missing');
  assert.equal(
    typeof (tcp.constants as { SOCKET?: unknown } | undefined)?.SOCKET,
    'number',
    'tcp_wrap.constants.SOCKET missing',
  );
});

test(`process.binding('stream_wrap') has the write and shutdown requests and the shared read state (Node ${process.version})`, () => {
  const stream = legacyBinding('stream_wrap');
  assert.ok(stream, "process.binding('stream_wrap') is gone: bench and the proxy fall back to net.Socket");
  assert.deepEqual(functions(stream, ['WriteWrap', 'ShutdownWrap']), []);
  assert.ok(stream.streamBaseState instanceof Int32Array, 'stream_wrap.streamBaseState is not an Int32Array');
  for (const k of ['kReadBytesOrError', 'kLastWriteWasAsync'])
    assert.equal(typeof stream[k], 'number', `stream_wrap.${k} missing`);
});

test('process.binding prints no deprecation warning for these two modules', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    legacyBinding('tcp_wrap');
    legacyBinding('stream_wrap');
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(
    warnings.map((w) => w.message),
    [],
  );
});

test('the fast paths are on in this Node: bench uses tcp_wrap handles unless TCPLENS_BENCH_TRANSPORT=socket', () => {
  if (process.env.TCPLENS_BENCH_TRANSPORT === 'socket') return;
  assert.equal(fastPath, true, 'bench fell back to net.Socket: a handle API it checks is missing');
});

async function connectedPair(): Promise<{ client: Socket; accepted: Socket; close(): void }> {
  const server = createHttpServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const a = await accepted;
  return {
    client,
    accepted: a,
    close: () => {
      client.destroy();
      a.destroy();
      server.close();
    },
  };
}

test("socket._handle is the connected socket's TCP handle with the read and write methods the proxy drives, gone once closed", async () => {
  const pair = await connectedPair();
  try {
    const h = socketHandle(pair.client) as Record<string, unknown> | undefined;
    assert.ok(h, 'socket._handle is gone: the proxy falls back to net.Socket');
    assert.deepEqual(
      functions(h, ['onread', 'useUserBuffer', 'readStart', 'readStop', 'writeBuffer']),
      [],
      'handle methods missing',
    );
    if (process.env.TCPLENS_PROXY_IO !== 'socket')
      assert.ok(rawHandleOf(pair.client), "the proxy's direct handle path is off for a connected socket");
    pair.client.destroy();
    await once(pair.client, 'close');
    assert.equal(socketHandle(pair.client), undefined);
  } finally {
    pair.close();
  }
});

test('socket._httpMessage is the response in progress on a server socket, and is cleared once it finished', async () => {
  let during: ServerResponse | undefined;
  let handlerRes: ServerResponse | undefined;
  let after: ServerResponse | undefined | null = null;
  const server = createHttpServer((req, res) => {
    handlerRes = res;
    during = responseInProgress(req.socket);
    res.on('finish', () => setImmediate(() => (after = responseInProgress(req.socket))));
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  try {
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(client, 'data');
    for (let i = 0; i < 100 && after === null; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(
      during && during === handlerRes,
      "socket._httpMessage is not the handler's response: serve's connection states read it",
    );
    assert.equal(after, undefined, 'socket._httpMessage stays set after the response finished');
  } finally {
    client.destroy();
    server.close();
  }
});

test('tlsSocket._parent is the accepted TCP socket under a server-side TLS socket', async () => {
  const { cert, key } = await selfSignedCertificate();
  const server = createHttpsServer({ cert, key }, (_req, res) => res.end('ok'));
  let tcp: Socket | undefined;
  let parent: Socket | undefined | null = null;
  server.on('connection', (s: Socket) => (tcp = s));
  server.on('secureConnection', (t: Socket) => (parent = tcpSocketUnderTls(t)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tlsConnect({
    port: (server.address() as { port: number }).port,
    host: '127.0.0.1',
    rejectUnauthorized: false,
  });
  try {
    await once(client, 'secureConnect');
    for (let i = 0; i < 100 && parent === null; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(tcp);
    assert.equal(
      parent,
      tcp,
      'tlsSocket._parent is not the accepted socket: serve loses TLS connection records and handshake times',
    );
  } finally {
    client.destroy();
    server.close();
  }
});

test('server.connectionsCheckingInterval holds the createServer option, and set before listen() it drives the timeout checks', async () => {
  assert.equal(
    connectionsCheckingInterval(createHttpServer({ connectionsCheckingInterval: 1234 })),
    1234,
    'the property is gone or renamed',
  );
  // Set as a property: a client that never finishes its headers is cut at headersTimeout by a
  // check every 50 ms, long before Node's default check (every 30 s) would notice it.
  const server = createHttpServer({ headersTimeout: 200, requestTimeout: 300 });
  const defaultMs = connectionsCheckingInterval(server);
  assert.equal(defaultMs, 30_000);
  setConnectionsCheckingInterval(server, 50);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.on('error', () => {});
  try {
    client.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const started = performance.now();
    let answer = '';
    client.setEncoding('latin1').on('data', (d: string) => (answer += d));
    await once(client, 'close');
    const closedAfterMs = performance.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(
      closedAfterMs < defaultMs / 3,
      `closed after ${closedAfterMs} ms: the property did not set the check interval`,
    );
  } finally {
    client.destroy();
    server.close();
  }
});

test("_http_common's HTTPParser parses a response with the callbacks the parser tests use", () => {
  const HTTPParser = nodeHttpParser();
  assert.ok(HTTPParser, "require('_http_common').HTTPParser is gone: the response parser loses its reference");
  for (const k of ['RESPONSE', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'] as const)
    assert.equal(typeof HTTPParser[k], 'number', k);
  const seen: unknown[] = [];
  const error = llhttpParse(
    Buffer.from('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    {
      head: (status, keepAlive) => (seen.push(status, keepAlive), false),
      body: (b) => seen.push(b.toString()),
      complete: () => seen.push('complete'),
    },
  );
  assert.ok(!error);
  assert.deepEqual(seen, [204, true, 'complete', 200, true, 'ok', 'complete']);
});
