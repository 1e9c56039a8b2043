// A run's latency percentile curve, from its histogram: the points that the bench report and the
// dashboard plot on the "nines" axis.

import * as hdr from 'hdr-histogram-js';
import type { BenchResult } from '../model/bench-result.ts';

// Percentiles to plot, spread evenly on the "nines" axis (x = 1 / (1 - q)).
const CURVE = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999];

/** x = 1 / (1 - q) for each plotted percentile q; y in ms. */
export function percentileCurve(r: Pick<BenchResult, 'histogram' | 'latencyMs'>): { x: number[]; y: number[] } {
  const h = hdr.decodeFromCompressedBase64(r.histogram, 32, false);
  const x: number[] = [];
  const y: number[] = [];
  if (h.totalCount === 0) return { x, y };
  for (const q of CURVE) {
    x.push(1 / (1 - q / 100));
    // A bucket's top can lie above the exact max the run saw; the curve ends at that max.
    y.push(Math.min(h.getValueAtPercentile(q) / 1000, r.latencyMs.max || Infinity));
  }
  return { x, y };
}
