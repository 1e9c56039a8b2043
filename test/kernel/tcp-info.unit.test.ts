// tcp_info decoded word by word (a whole struct in an aligned buffer, as a recv buffer holds it)
// gives the same numbers as decoded field by field from bytes (any alignment, any length).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TCP_INFO_FIELDS, newTcpInfoRecord, parseTcpInfo } from '../../src/kernel/tcp-info.ts';

test('a whole tcp_info decodes alike from an aligned buffer and from bytes one off', () => {
  // Larger than Buffer's pool: a buffer of its own, starting 4-aligned.
  const aligned = Buffer.alloc(16 << 10);
  const shifted = Buffer.alloc((16 << 10) + 1);
  let seed = 1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed & 255;
  };
  for (let round = 0; round < 500; round++) {
    for (let i = 0; i < aligned.length; i++) aligned[i] = random();
    aligned.copy(shifted, 1);
    const at = 4 * (round % 200);
    const words = newTcpInfoRecord();
    const bytes = newTcpInfoRecord();
    parseTcpInfo(aligned, at, 248, words);
    parseTcpInfo(shifted, at + 1, 248, bytes);
    for (let f = 0; f < TCP_INFO_FIELDS; f++)
      assert.equal(words.values[f], bytes.values[f], `field ${f} of round ${round}`);
  }
  // Every field is a number: the struct is long enough for all.
  const rec = newTcpInfoRecord();
  parseTcpInfo(aligned, 0, 248, rec);
  assert.ok(rec.values.every((v) => !Number.isNaN(v)));
});
