// The latency histogram every layer records into: one unit (microseconds), one range, one
// precision, so histograms from bench threads, the pool and the TLS server merge and compare.

import * as hdr from 'hdr-histogram-js';

/** Microseconds: the unit every histogram records. 1 µs to 1 hour at 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  const h = hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  fastIndex(h as unknown as IndexedHistogram);
  return h;
}

interface IndexedHistogram {
  subBucketHalfCountMagnitude: number;
  unitMagnitude: number;
  countsArrayIndex(value: number): number;
}

/**
 * hdr-histogram-js finds a value's bucket with Math.log2 and Math.pow, which costs more than the
 * rest of recording a value; below 2^32 the same index comes from Math.clz32 and shifts. The
 * library's own method stays for anything else, and a test checks both give the same histogram.
 */
function fastIndex(h: IndexedHistogram): void {
  const half = h.subBucketHalfCountMagnitude;
  const unit = h.unitMagnitude;
  if (typeof h.countsArrayIndex !== 'function' || !Number.isInteger(half) || !Number.isInteger(unit)) return;
  const slow = h.countsArrayIndex.bind(h);
  const halfCount = 2 ** half;
  h.countsArrayIndex = (value: number): number => {
    if (!(value >= 0 && value < 4294967296 && value === Math.floor(value))) return slow(value);
    const bucket = Math.max(31 - Math.clz32(value) - half - unit, 0);
    const sub = value >>> (bucket + unit);
    return (bucket + 1) * halfCount + sub - halfCount;
  };
}
