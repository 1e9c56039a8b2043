import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRequest } from '../../src/http/request.ts';
import { UsageError } from '../../src/errors.ts';

const url = new URL('http://127.0.0.1:8080/p?q=1');
const text = (b: Buffer) => b.toString('latin1');

test('a body gets its Content-Length; a user Content-Length that matches is sent once, as given', () => {
  const body = Buffer.from('abc');
  assert.equal(
    text(buildRequest({ method: 'POST', url, headers: [], body, keepAlive: true })),
    'POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 3\r\n\r\nabc',
  );
  const given = text(buildRequest({ method: 'POST', url, headers: [['content-length', '3']], body, keepAlive: true }));
  assert.equal(given.match(/content-length/gi)?.length, 1);
  assert.match(given, /\r\ncontent-length: 3\r\n\r\nabc$/);
});

test('a user Content-Length that disagrees with the body is refused: the server would wait for bytes that never come', () => {
  const cases: [[string, string][], Buffer | undefined][] = [
    [[['Content-Length', '5']], Buffer.from('abc')],
    [[['Content-Length', '2']], Buffer.from('abc')],
    [[['Content-Length', '5']], undefined],
    [
      [
        ['Content-Length', '3'],
        ['Content-Length', '4'],
      ],
      Buffer.from('abc'),
    ],
    [[['Content-Length', '+3']], Buffer.from('abc')],
    [
      [
        ['Content-Length', '3'],
        ['Transfer-Encoding', 'chunked'],
      ],
      Buffer.from('abc'),
    ],
  ];
  for (const [headers, body] of cases) {
    assert.throws(
      () => buildRequest({ method: 'POST', url, headers, body, keepAlive: true }),
      UsageError,
      JSON.stringify(headers),
    );
  }
  assert.doesNotThrow(() => buildRequest({ method: 'GET', url, headers: [['Content-Length', '0']], keepAlive: true }));
});

test('with a user Transfer-Encoding the body is sent as given, without a Content-Length of ours', () => {
  const body = Buffer.from('3\r\nabc\r\n0\r\n\r\n');
  const req = text(
    buildRequest({ method: 'POST', url, headers: [['Transfer-Encoding', 'chunked']], body, keepAlive: false }),
  );
  assert.doesNotMatch(req, /content-length/i);
  assert.match(req, /Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/);
});

test('a user Transfer-Encoding: chunked with a body that is not framed as chunks (or no body) is refused, as is a last coding other than chunked', () => {
  const chunked: [string, string][] = [['Transfer-Encoding', 'chunked']];
  for (const body of [
    Buffer.from('hi'),
    undefined,
    Buffer.from('2\r\nhi\r\n'),
    Buffer.from('2\r\nhi\r\n0\r\n\r\nextra'),
    Buffer.from('3\r\nhi\r\n0\r\n\r\n'),
  ]) {
    assert.throws(
      () => buildRequest({ method: 'POST', url, headers: chunked, body, keepAlive: true }),
      UsageError,
      JSON.stringify(body?.toString()),
    );
  }
  assert.throws(
    () =>
      buildRequest({
        method: 'POST',
        url,
        headers: [['Transfer-Encoding', 'gzip']],
        body: Buffer.from('x'),
        keepAlive: true,
      }),
    UsageError,
  );
  for (const body of ['2\r\nhi\r\n0\r\n\r\n', '0\r\n\r\n', '2;ext=1\r\nhi\r\n0\r\nX-T: 1\r\n\r\n']) {
    assert.doesNotThrow(
      () => buildRequest({ method: 'POST', url, headers: chunked, body: Buffer.from(body), keepAlive: true }),
      body,
    );
  }
});
