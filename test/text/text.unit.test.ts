import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { bracketHost, formatHostPort } from '../../src/text/host-port.ts';
import { formatCell, formatCount, formatShare } from '../../src/text/number.ts';
import { percentile, percentileOfSorted } from '../../src/text/percentile.ts';

test('host:port brackets IPv6 addresses as a URL does, and leaves IPv4 and names alone', () => {
  for (const [host, port] of [
    ['127.0.0.1', 80],
    ['::1', 8080],
    ['::ffff:127.0.0.1', 9],
    ['localhost', 443],
  ] as const) {
    const shown = formatHostPort(host, port);
    // The oracle: a URL built from the text parses back to the same host and port.
    const url = new URL(`http://${shown}/`);
    assert.equal(url.port === '' ? 80 : Number(url.port), port, shown);
    assert.equal(bracketHost(host), isIP(host) === 6 ? `[${host}]` : host);
  }
});

test('counts get thousands separators, shares one decimal, cells three significant places', () => {
  assert.equal(formatCount(12345), '12,345');
  assert.equal(formatCount(-1234567), '-1,234,567');
  assert.equal(formatCount(999), '999');
  for (const n of [0, 7, 1000, 65535, 14548, 2 ** 40]) assert.equal(formatCount(n), n.toLocaleString('en-US'));
  assert.equal(formatShare(0.1234), '12.3%');
  assert.equal(formatShare(Number.NaN), '-');
  assert.equal(formatCell(273.6), '274');
  assert.equal(formatCell(12.34), '12.3');
  assert.equal(formatCell(0.01234), '0.012');
  assert.equal(formatCell(null), '-');
  assert.equal(formatCell(true), 'yes');
});

test('percentiles are nearest-rank: always one of the values, p100 the largest, 0 for none', () => {
  const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  const sorted = [...values].sort((a, b) => a - b);
  assert.equal(percentile(values, 50), 5);
  assert.equal(percentile(values, 90), 9);
  assert.equal(percentile(values, 99), 10);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([], 50), 0);
  assert.deepEqual(values, [5, 1, 4, 2, 3, 10, 9, 8, 7, 6], 'the input is not sorted in place');
  // The oracle: at least p% of the values are at or below it, and fewer below it.
  for (const p of [1, 10, 25, 50, 75, 95, 99]) {
    const v = percentileOfSorted(sorted, p);
    assert.ok(sorted.filter((x) => x <= v).length >= (p / 100) * sorted.length, `p${p}`);
    assert.ok(sorted.filter((x) => x < v).length < (p / 100) * sorted.length, `p${p}`);
  }
});
