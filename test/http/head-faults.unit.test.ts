import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestHeadFault } from '../../src/http/head-faults.ts';

test('two Host lines, whatever their case, are a fault; one is not, and values are never taken for names', () => {
  assert.equal(requestHeadFault([]), undefined);
  assert.equal(requestHeadFault(['Host', 'a']), undefined);
  assert.equal(requestHeadFault(['host', 'a', 'HOST', 'b']), 'more than one Host header');
  assert.equal(requestHeadFault(['Host', '', 'X', 'y', 'hOsT', 'b']), 'more than one Host header');
  assert.equal(requestHeadFault(['X-Host', 'host', 'Hosts', 'a', 'Accept', 'host', 'Host', 'a']), undefined);
});

test('a Transfer-Encoding must end in chunked', () => {
  const te = (v: string) => requestHeadFault(['Host', 'a', 'Transfer-Encoding', v]);
  for (const ok of ['chunked', 'Chunked', ' chunked ', 'gzip, chunked', 'gzip,chunked'])
    assert.equal(te(ok), undefined, ok);
  for (const bad of ['identity', 'chunked, identity', 'gzip', '', 'chunked,', 'xchunked']) {
    assert.equal(te(bad), 'a Transfer-Encoding whose last coding is not chunked', bad);
  }
});
