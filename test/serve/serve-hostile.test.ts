// Hostile input against `tcplens serve`: generated route parameters, request-smuggling shapes, and a
// flood of connections that never send a byte.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { createServeServer, type ServeServer } from '../../src/serve/serve.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { startServe } from '../helpers/serve-cli.ts';

const ROUTE_PARAMS = [
  { prefix: '/delay/', name: 'ms', min: 0, max: 600_000 },
  { prefix: '/bytes/', name: 'n', min: 0, max: 2 ** 30 },
  { prefix: '/status/', name: 'code', min: 200, max: 599 },
] as const;

describe('serve in this process', () => {
  let serve: ServeServer;
  let port: number;

  before(async () => {
    serve = await createServeServer({ debug: false });
    await new Promise<void>((resolve) => serve.server.listen(0, '127.0.0.1', resolve));
    port = (serve.server.address() as { port: number }).port;
  });
  after(() => {
    serve.server.closeAllConnections();
    serve.server.close();
  });

  const get = (target: string) =>
    rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);

  test('any route parameter: what it asks within bounds, else a 400 that names the parameter', async () => {
    // Parameters as a client might write them: numbers in and out of range, signs, exponents, hex,
    // fractions, huge, empty, percent-encoded, extra segments.
    const param = fc.oneof(
      fc.integer({ min: 0, max: 700 }).map(String),
      fc.constantFrom(
        '',
        '-1',
        '+1',
        '1e3',
        '0x10',
        '1.5',
        ' 1',
        '%31',
        '1/2',
        '99999999999',
        '9'.repeat(400),
        '2147483648',
        '600001',
        '1073741825',
        '199',
        '600',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 12 }).map((s) => s.replace(/[\s?#]/g, '')),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTE_PARAMS), param, async (route, raw) => {
        const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
        const good = n >= route.min && n <= route.max;
        // Long waits are the one thing not worth generating.
        fc.pre(!(good && route.name === 'ms' && n > 30));
        const r = await get(route.prefix + raw);
        if (!good) {
          // A target node's parser refuses outright gets its 400 too, without our message.
          assert.equal(r.status, 400, `${route.prefix}${raw}: ${r.raw.slice(0, 200)}`);
          if (/\r\n\r\n.+/s.test(r.raw) && !r.raw.includes('Bad Request'))
            assert.match(r.raw, new RegExp(`: ${route.name} takes a whole number from ${route.min} to ${route.max}`));
          return;
        }
        if (route.name === 'code') assert.equal(r.status, n, `${route.prefix}${raw}`);
        else assert.equal(r.status, 200, `${route.prefix}${raw}: ${r.raw.slice(0, 200)}`);
        if (route.name === 'n')
          assert.ok(r.raw.endsWith('x'.repeat(n)) && !r.raw.endsWith('x'.repeat(n + 1)), `${n} bytes`);
      }),
      { numRuns: 150 },
    );
    assert.equal((await get('/')).status, 200);
  });

  test('request-smuggling shapes get a 400 or 431 and a close, and the request hidden inside is never answered', async () => {
    const H = 'Host: x\r\n';
    const hidden = `GET /status/418 HTTP/1.1\r\n${H}\r\n`;
    const shapes: [string, string, number][] = [
      [
        'Content-Length and Transfer-Encoding (CL.TE)',
        `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
        400,
      ],
      [
        'Transfer-Encoding and Content-Length (TE.CL)',
        `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nGET /sta\r\n0\r\n\r\n`,
        400,
      ],
      [
        'two different Content-Length',
        `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 44\r\n\r\n${hidden}`,
        400,
      ],
      ['a Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 0, 44\r\n\r\n${hidden}`, 400],
      [
        'chunked not last',
        `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${hidden}`,
        400,
      ],
      ['a space before the colon', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${hidden}`, 400],
      ['an obs-fold', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${hidden}`, 400],
      ['bare LF line ends', `GET / HTTP/1.1\n${H}\n${hidden}`, 400],
      ['a bare CR', `GET / HTTP/1.1\r${H}\r\n${hidden}`, 400],
      ['a NUL in a header', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n${hidden}`, 400],
      ['a negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n${hidden}`, 400],
      ['a signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\nx${hidden}`, 400],
      ['HTTP/1.1 without Host', `GET / HTTP/1.1\r\n\r\n${hidden}`, 400],
      ['two Host headers', `GET / HTTP/1.1\r\n${H}Host: y\r\n\r\n${hidden}`, 400],
      ['two Host headers, one empty', `GET / HTTP/1.1\r\nhost:\r\n${H}\r\n${hidden}`, 400],
      ['Transfer-Encoding identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n${hidden}`, 400],
      ['a header of 20 KB', `GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(20_000)}\r\n\r\n${hidden}`, 431],
    ];
    for (const [name, request, status] of shapes) {
      const r = await rawExchange(port, request, 3000);
      assert.equal(r.status, status, `${name}: ${r.raw.slice(0, 200)}`);
      assert.ok(r.closed, `${name}: the connection stays open after a request it could not frame`);
      assert.ok(!r.statuses.includes(418), `${name}: the hidden request was answered`);
    }
    // A body whose chunk framing breaks after the answer: the connection is closed, never reused out of step.
    for (const body of ['zz\r\n\r\n', 'FFFFFFFFFFFFFFFFF\r\n\r\n']) {
      const r = await rawExchange(
        port,
        `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}${hidden}`,
        3000,
      );
      assert.ok(r.closed && !r.statuses.includes(418), `chunk size ${JSON.stringify(body)}: ${r.raw.slice(0, 200)}`);
    }
    assert.equal((await get('/')).status, 200);
  });
});

test('a flood of 2,000 connections that never send a byte is closed at --headers-timeout while normal requests are served', async () => {
  const headersTimeoutMs = 4000;
  const s = await startServe(['--headers-timeout', String(headersTimeoutMs / 1000)]);
  const flood: Socket[] = [];
  try {
    const t0 = performance.now();
    let closed = 0;
    // In waves smaller than the accept queue (511), so that the kernel drops none of them.
    for (let wave = 0; wave < 8; wave++) {
      const connected: Promise<unknown>[] = [];
      for (let i = 0; i < 250; i++) {
        const c = connect(s.port, '127.0.0.1')
          .on('error', () => {})
          .on('close', () => closed++)
          .resume();
        connected.push(new Promise((resolve) => c.once('connect', resolve).once('close', resolve)));
        flood.push(c);
      }
      await Promise.all(connected);
    }
    // The oracle is ss: the server's own end of each connection.
    const serverSide = () =>
      execFileSync('ss', ['-tnH', 'state', 'established', `sport = :${s.port}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean).length;
    // Connections the accept queue could not take yet complete when the kernel sends its SYN-ACK again.
    let held = serverSide();
    while (held < 1990 && performance.now() - t0 < headersTimeoutMs - 500) {
      await new Promise((r) => setTimeout(r, 100));
      held = serverSide();
    }
    assert.ok(held >= 1990, `only ${held} of 2,000 connections reached the server`);
    const answered = await rawExchange(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    assert.equal(answered.status, 200, 'a normal request during the flood');
    let left = serverSide();
    while ((left > 0 || closed < flood.length) && performance.now() - t0 < headersTimeoutMs + 6000) {
      await new Promise((r) => setTimeout(r, 200));
      left = serverSide();
    }
    const elapsedMs = performance.now() - t0;
    assert.equal(left, 0, `${left} silent connections still open on the server after ${elapsedMs.toFixed(0)} ms`);
    assert.equal(closed, flood.length, `the clients saw ${closed} of ${flood.length} closed`);
    assert.ok(elapsedMs >= headersTimeoutMs - 100, `closed after ${elapsedMs.toFixed(0)} ms, before --headers-timeout`);
  } finally {
    for (const c of flood) c.destroy();
    await s.stop();
  }
});
