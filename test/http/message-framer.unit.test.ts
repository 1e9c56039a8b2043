// The HTTP mode's framer finds the same message boundaries however the bytes are split.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageFramer } from '../../src/http/message-framer.ts';
import { ResponseParser } from '../../src/http/response-parser.ts';
import { MAX_HEAD_BYTES } from '../../src/http/head-limit.ts';

/** Boundaries as absolute offsets: "head@end" and "done@end", fed in pieces of the given sizes. */
function frame(
  kind: 'request' | 'response',
  text: string,
  cut: (i: number) => number,
  methods: string[] = [],
): string[] {
  const bytes = Buffer.from(text, 'latin1');
  const f = new MessageFramer(kind);
  const events: string[] = [];
  let base = 0;
  let m = 0;
  if (kind === 'response') f.requestMethod = methods[m++] ?? 'GET';
  for (let i = 0; base < bytes.length; i++) {
    const piece = bytes.subarray(base, Math.min(bytes.length, base + cut(i)));
    let pos = 0;
    while (pos < piece.length) {
      const step = f.next(piece, pos);
      if (step.kind === 'more') break;
      if (step.kind === 'error') {
        events.push(`error:${step.reason}`);
        return events;
      }
      if (step.kind === 'head') {
        events.push(`${step.head.interim ? 'interim' : 'head'}@${base + step.end}`);
        if (step.bodyless && !step.head.interim) {
          events.push(`done@${base + step.end}`);
          if (kind === 'response') f.requestMethod = methods[m++] ?? 'GET';
        }
      } else if (step.complete) {
        events.push(`done@${base + step.end}`);
        if (kind === 'response') f.requestMethod = methods[m++] ?? 'GET';
      }
      pos = step.end;
    }
    base += piece.length;
  }
  return events;
}

const REQUESTS =
  '\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n' +
  'POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' +
  'PUT /c HTTP/1.1\nTransfer-Encoding: gzip, chunked\n\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n' +
  'GET /d HTTP/1.0\r\n\r\n';

const RESPONSES =
  'HTTP/1.1 100 Continue\r\n\r\n' +
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' +
  'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n' + // to a HEAD: no body
  'HTTP/1.1 204 No Content\r\n\r\n' +
  'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' +
  'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n';

test('request and response boundaries are the same in one piece, byte by byte, and in odd pieces', () => {
  const methods = ['POST', 'HEAD', 'GET', 'GET', 'GET'];
  for (const [kind, text] of [
    ['request', REQUESTS],
    ['response', RESPONSES],
  ] as const) {
    const whole = frame(kind, text, () => text.length, methods);
    assert.ok(whole.filter((e) => e.startsWith('done@')).length >= 4, `${kind}: ${whole}`);
    assert.ok(!whole.some((e) => e.startsWith('error')), `${kind}: ${whole}`);
    assert.equal(whole.at(-1), `done@${text.length}`, `${kind} ends at the end: ${whole}`);
    assert.deepEqual(
      frame(kind, text, () => 1, methods),
      whole,
      `${kind}, byte by byte`,
    );
    for (const size of [2, 3, 5, 7, 13])
      assert.deepEqual(
        frame(kind, text, (i) => (i % 2 ? size : size + 1), methods),
        whole,
        `${kind}, pieces of ${size}`,
      );
  }
});

test('bytes that are not HTTP/1.x, or a head over the limit, end the framing with the bytes held', () => {
  assert.deepEqual(
    frame('request', 'SSH-2.0-OpenSSH\r\n\r\n', () => 100),
    ['error:not an HTTP/1.x request line'],
  );
  assert.deepEqual(
    frame('request', `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES + 1000)}`, () => 4096),
    ['error:head larger than 80 KiB'],
  );
  assert.deepEqual(
    frame('request', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', () => 100),
    ['error:request body of unknown length'],
  );
  const f = new MessageFramer('request');
  const step = f.next(Buffer.from('GET / HTTP/1.1\r\nHo'), 0);
  assert.equal(step.kind, 'more');
  const bad = f.next(Buffer.from('st x\r\n\r\n'), 0);
  assert.equal(bad.kind, 'error');
  if (bad.kind === 'error')
    assert.equal(bad.held.toString(), 'GET / HTTP/1.1\r\nHost x\r\n\r\n', 'every byte held comes back, to pass on');
});

test('generated hostile messages frame the same whole and in any pieces, and never throw', () => {
  const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
  const header = fc.oneof(
    fc.tuple(
      fc.constantFrom('Content-Length', 'content-length', 'Transfer-Encoding', 'Connection', 'Host'),
      fc.oneof(
        fc.constantFrom(
          'chunked',
          'gzip, chunked',
          'chunked, gzip',
          ' chunked',
          '0',
          '5',
          '-1',
          '+5',
          '99999999999999999999',
          '1e3',
          'close',
          '',
        ),
        fc.string({ maxLength: 10 }),
      ),
    ),
    fc.tuple(token, fc.string({ maxLength: 20 })),
  );
  const body = fc.oneof(
    fc.constant(''),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      '0\r\n\r\n',
      '5\r\nhello\r\n0\r\n\r\n',
      'zz\r\n',
      'fffffffffffffffff\r\n',
      '3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n',
    ),
  );
  const message = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'X'),
      fc.array(header, { maxLength: 4 }),
      body,
      fc.constantFrom('\r\n', '\n'),
    )
    .map(
      ([method, headers, b, eol]) =>
        `${method} /p HTTP/1.1${eol}${headers.map(([k, v]) => `${k}: ${v}${eol}`).join('')}${eol}${b}`,
    );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(message, fc.string({ maxLength: 30 })), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 }),
      (messages, sizes) => {
        const text = messages.join('');
        const whole = frame('request', text, () => text.length + 1);
        assert.deepEqual(
          frame('request', text, (i) => sizes[i % sizes.length]!),
          whole,
        );
        assert.deepEqual(
          frame('request', text, () => 1),
          whole,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('one head limit: a response head just under it frames in both framers, one just over it in neither', () => {
  const head = (bytes: number) => `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(bytes - 24)}\r\ncontent-length: 0\r\n\r\n`;
  for (const [size, ok] of [
    [MAX_HEAD_BYTES - 2048, true],
    [MAX_HEAD_BYTES + 2048, false],
  ] as const) {
    const text = head(size);
    const framed = frame('response', text, () => 4096);
    assert.equal(
      framed.some((e) => e.startsWith('error')),
      !ok,
      `framer, ${text.length} bytes: ${framed}`,
    );
    let responses = 0;
    const parser = new ResponseParser(() => responses++);
    const bytes = Buffer.from(text, 'latin1');
    let sound = true;
    for (let at = 0; at < bytes.length && sound; at += 4096)
      sound = parser.execute(bytes, at, Math.min(bytes.length, at + 4096));
    assert.equal(sound && responses === 1, ok, `parser, ${text.length} bytes: ${parser.error}`);
  }
});
