import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, MAX_HEAD_BYTES } from '../../src/http/response-parser.ts';
import { llhttpParse } from '../helpers/llhttp.ts';

interface Seen {
  status: number;
  bodyBytes: number;
  keepAlive: boolean;
}

/** What Node's own parser (llhttp), the reference ours must agree with, makes of the bytes. */
function llhttp(bytes: Buffer, head: boolean): { responses: Seen[]; error: boolean } {
  const responses: Seen[] = [];
  let current: Seen | undefined;
  const error = llhttpParse(bytes, {
    head(status, keepAlive) {
      current = { status, bodyBytes: 0, keepAlive };
      return head;
    },
    body(b) {
      current!.bodyBytes += b.length;
    },
    complete() {
      // llhttp reports interim 1xx responses as messages; a client skips them.
      if (current && !(current.status >= 100 && current.status < 200 && current.status !== 101))
        responses.push(current);
    },
  });
  return { responses, error };
}

function ours(bytes: Buffer, head: boolean, split: (n: number) => number[]): { responses: Seen[]; error: boolean } {
  const responses: Seen[] = [];
  const p = new ResponseParser((status, keepAlive, bodyBytes) => responses.push({ status, keepAlive, bodyBytes }));
  p.head = head;
  let at = 0;
  for (const size of split(bytes.length)) {
    if (!p.execute(bytes, at, at + size)) return { responses, error: true };
    at += size;
  }
  return { responses, error: !p.finish() };
}

// Deterministic randomness, so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function randomCase(r: () => number, s: string): string {
  return [...s].map((ch) => (r() < 0.5 ? ch.toUpperCase() : ch.toLowerCase())).join('');
}

/** A random sequence of valid responses as a server could send them on one connection. */
function randomResponses(r: () => number, head: boolean): Buffer {
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    if (r() < 0.1) parts.push('HTTP/1.1 100 Continue\r\n\r\n');
    const minor = r() < 0.2 ? 0 : 1;
    const status = [200, 200, 201, 204, 301, 304, 404, 500, 503][Math.floor(r() * 9)]!;
    const headers: string[] = [`${randomCase(r, 'Server')}: test`];
    if (r() < 0.5) headers.push(`X-Pad: ${'x'.repeat(Math.floor(r() * 300))}`);
    const noBody = head || status === 204 || status === 304;
    const bodyLen = Math.floor(r() * 3000);
    const framing = r();
    let body = '';
    const keepAliveWanted = !last || r() < 0.7;
    if (minor === 1 && !keepAliveWanted)
      headers.push(`${randomCase(r, 'Connection')}: ${r() < 0.5 ? 'close' : 'Close'}`);
    if (minor === 0 && keepAliveWanted) headers.push(`Connection: keep-alive`);
    if (framing < 0.45 || (!last && framing >= 0.9)) {
      headers.push(`${randomCase(r, 'Content-Length')}: ${noBody && status !== 200 ? 0 : bodyLen}`);
      if (!noBody) body = 'b'.repeat(bodyLen);
    } else if (framing < 0.9 && minor === 1) {
      headers.push(`${randomCase(r, 'Transfer-Encoding')}: chunked`);
      if (!noBody) {
        let left = bodyLen;
        while (left > 0) {
          const c = Math.min(left, 1 + Math.floor(r() * 700));
          body += `${c.toString(16)}${r() < 0.2 ? ';ext=1' : ''}\r\n${'c'.repeat(c)}\r\n`;
          left -= c;
        }
        body += '0\r\n' + (r() < 0.2 ? 'X-Trailer: 1\r\n' : '') + '\r\n';
      }
    } else if (last && !noBody) {
      body = 'e'.repeat(bodyLen); // no framing: runs to the end of the stream
      if (!headers.some((h) => /connection/i.test(h))) headers.push('Connection: close');
    } else {
      headers.push('Content-Length: 0');
    }
    parts.push(`HTTP/1.${minor} ${status} Whatever\r\n${headers.join('\r\n')}\r\n\r\n${body}`);
    if (!keepAliveWanted) break;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

test('agrees with llhttp on 3,000 random valid response streams, fed in random pieces', () => {
  const r = rng(42);
  for (let i = 0; i < 3000; i++) {
    const head = r() < 0.15;
    const bytes = randomResponses(r, head);
    const expected = llhttp(bytes, head);
    assert.equal(expected.error, false, `llhttp rejected case ${i}: ${bytes.toString('latin1').slice(0, 200)}`);
    const whole = ours(bytes, head, (n) => [n]);
    const pieces = ours(bytes, head, (n) => {
      const sizes: number[] = [];
      for (let left = n; left > 0; ) {
        const s = Math.min(left, 1 + Math.floor(r() * 40));
        sizes.push(s);
        left -= s;
      }
      return sizes;
    });
    assert.deepEqual(whole, expected, `case ${i}`);
    assert.deepEqual(pieces, expected, `case ${i} in pieces`);
  }
});

test('handles the framings a load generator meets', () => {
  const one = (text: string, head = false) => ours(Buffer.from(text, 'latin1'), head, (n) => [n]);
  assert.deepEqual(one('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'), {
    responses: [{ status: 200, keepAlive: true, bodyBytes: 5 }],
    error: false,
  });
  assert.deepEqual(one('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n').responses, [
    { status: 200, keepAlive: true, bodyBytes: 5 },
  ]);
  assert.deepEqual(one('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello').responses, [
    { status: 200, keepAlive: false, bodyBytes: 5 },
  ]);
  assert.deepEqual(one('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', true).responses, [
    { status: 200, keepAlive: true, bodyBytes: 0 },
  ]);
  assert.deepEqual(
    one('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n').responses,
    [
      { status: 204, keepAlive: true, bodyBytes: 0 },
      { status: 304, keepAlive: true, bodyBytes: 0 },
    ],
  );
  assert.deepEqual(one('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').responses, [
    { status: 200, keepAlive: true, bodyBytes: 0 },
  ]);
  assert.deepEqual(one('HTTP/1.0 200 OK\r\n\r\nuntil close').responses, [
    { status: 200, keepAlive: false, bodyBytes: 11 },
  ]);
});

test('reports errors for hostile and broken responses, never throws', () => {
  const bad = (text: string | Buffer) =>
    ours(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, false, (n) => [n]);
  assert.equal(bad('SSH-2.0-OpenSSH\r\n').error, true);
  assert.equal(bad('HTTP/2.0 200 OK\r\n\r\n').error, true);
  assert.equal(bad('HTTP/1.1 2x0 OK\r\n\r\n').error, true);
  assert.equal(bad('HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n').error, true);
  assert.equal(bad('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab').error, true);
  assert.equal(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n').error, true);
  assert.equal(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n').error, true);
  assert.equal(bad('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort').error, true, 'cut off by the close');
  const huge = `HTTP/1.1 200 OK\r\n${'X-Big: ' + 'y'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
  assert.equal(bad(huge).error, true, 'one huge header');
  const many = `HTTP/1.1 200 OK\r\n${'X-A: b\r\n'.repeat(MAX_HEAD_BYTES / 8 + 10)}\r\n`;
  assert.equal(bad(many).error, true, 'many small headers');
  const longReason = `HTTP/1.1 200 ${'r'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
  assert.equal(bad(longReason).error, true, 'an endless reason phrase');
  const fits = `HTTP/1.1 200 OK\r\n${'X-A: b\r\n'.repeat(1000)}Content-Length: 0\r\n\r\n`;
  assert.equal(bad(fits).error, false, 'a large head below the limit');
});

test('survives 20,000 mutated and random inputs: no throw, an error or a result', () => {
  const r = rng(7);
  for (let i = 0; i < 20_000; i++) {
    let bytes: Buffer;
    if (i % 4 === 0) {
      bytes = Buffer.alloc(Math.floor(r() * 400));
      for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(r() * 256);
    } else {
      bytes = Buffer.from(randomResponses(r, false));
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      if (r() < 0.3) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
    }
    const p = new ResponseParser(() => {});
    let ok = true;
    for (let at = 0; ok && at < bytes.length; at += 64) ok = p.execute(bytes, at, Math.min(bytes.length, at + 64));
    if (ok) ok = p.finish();
    if (!ok) assert.equal(typeof p.error, 'string');
  }
});

test('a head parsed in one piece (fast path) and byte by byte (state machine) gives the same results on 20,000 inputs', () => {
  const r = rng(11);
  const run = (bytes: Buffer, head: boolean, size: number) => {
    const responses: Seen[] = [];
    const p = new ResponseParser((status, keepAlive, bodyBytes) => responses.push({ status, keepAlive, bodyBytes }));
    p.head = head;
    let ok = true;
    for (let at = 0; ok && at < bytes.length; at += size) ok = p.execute(bytes, at, Math.min(bytes.length, at + size));
    if (ok) ok = p.finish();
    return { responses, error: ok ? undefined : p.error };
  };
  let fast = 0;
  for (let i = 0; i < 20_000; i++) {
    const head = r() < 0.1;
    let bytes = Buffer.from(randomResponses(r, head));
    if (i % 2 === 1) {
      // Damage in the head, where the two paths differ: names, values, line ends, the status line.
      const headEnd = Math.max(1, bytes.indexOf('\r\n\r\n'));
      const pool = [0, 9, 10, 13, 32, 44, 48, 49, 58, 65, 67, 99, 255];
      const flips = 1 + Math.floor(r() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(r() * headEnd)] = pool[Math.floor(r() * pool.length)]!;
      if (r() < 0.2) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
    }
    const whole = run(bytes, head, bytes.length || 1);
    const bytewise = run(bytes, head, 1);
    assert.deepEqual(whole, bytewise, `case ${i}: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);
    if (!whole.error) fast++;
  }
  assert.ok(fast > 10_000, `only ${fast} inputs parsed without error`);
});

test('a handler that resets the parser (its connection is done) ends the input: the rest belongs to the old stream', () => {
  const seen: number[] = [];
  const p = new ResponseParser((status) => {
    seen.push(status);
    p.reset();
  });
  const two = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    'latin1',
  );
  assert.equal(p.execute(two, 0, two.length), true);
  assert.deepEqual(seen, [200]);
  assert.equal(p.idle, true);
  // The next input, on the new stream, parses from its start.
  assert.equal(p.execute(two, 0, two.length), true);
  assert.deepEqual(seen, [200, 200]);
});

test('Transfer-Encoding together with Content-Length is an error, as llhttp says, whatever the order, coding, status or split', () => {
  for (const te of ['chunked', 'gzip', 'gzip, chunked']) {
    for (const status of [200, 204, 304]) {
      for (const both of [
        `Transfer-Encoding: ${te}\r\nContent-Length: 2\r\n`,
        `Content-Length: 2\r\nTransfer-Encoding: ${te}\r\n`,
      ]) {
        const bytes = Buffer.from(`HTTP/1.1 ${status} X\r\n${both}\r\n2\r\nok\r\n0\r\n\r\n`, 'latin1');
        const reference = llhttp(bytes, false);
        assert.equal(reference.error, true, `llhttp accepted ${JSON.stringify(both)}`);
        for (const split of [(n: number) => [n], (n: number) => Array.from({ length: n }, () => 1)]) {
          const r = ours(bytes, false, split);
          assert.equal(r.error, true, `${status} ${JSON.stringify(both)}`);
          assert.deepEqual(r.responses, reference.responses);
        }
      }
    }
  }
});
