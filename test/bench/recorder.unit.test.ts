import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as hdr from 'hdr-histogram-js';
import { Recorder } from '../../src/bench/recorder.ts';
import { newHistogram } from '../../src/text/histogram.ts';

test("the recorder's histograms (bucket index by Math.clz32) hold exactly what hdr-histogram-js itself records", () => {
  const ours = newHistogram();
  const theirs = hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  let s = 12345;
  const values: number[] = [
    0,
    1,
    2,
    2047,
    2048,
    2049,
    4095,
    4096,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    3_600_000_000,
    1.5,
    999.9,
  ];
  for (let i = 0; i < 100_000; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const r = s / 2147483648;
    values.push(i < 5000 ? i : Math.floor(r ** 4 * 3_600_000_000));
  }
  for (const v of values) {
    ours.recordValue(v);
    theirs.recordValue(v);
  }
  assert.equal(hdr.encodeIntoCompressedBase64(ours), hdr.encodeIntoCompressedBase64(theirs));
  assert.equal(ours.totalCount, values.length);
  for (const p of [50, 90, 99, 99.9, 100]) assert.equal(ours.getValueAtPercentile(p), theirs.getValueAtPercentile(p));
});

test('the run histogram, added up second by second, holds every latency once, the last partial second too', () => {
  const rec = new Recorder();
  const direct = newHistogram();
  let s = 99;
  for (let i = 0; i < 30_000; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const ms = (s / 2147483648) ** 3 * 5000;
    rec.response(200, ms);
    direct.recordValue(Math.max(1, Math.round(ms * 1000)));
    if (i % 7000 === 6999) rec.tick(rec.timeline.length + 1);
  }
  rec.flush();
  assert.equal(rec.timeline.length, 4);
  assert.equal(rec.completed, 30_000);
  assert.equal(hdr.encodeIntoCompressedBase64(rec.latency), hdr.encodeIntoCompressedBase64(direct));
  assert.equal(rec.latency.maxValue, direct.maxValue);
  assert.equal(rec.latency.minNonZeroValue, direct.minNonZeroValue);
});
