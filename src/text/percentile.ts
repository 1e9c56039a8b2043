// Nearest-rank percentiles of a handful of measured values (the lab's samples): the value below
// which p percent of them lie, always one of the values themselves.

/** Percentile p (0–100) of values sorted ascending; 0 when there are none. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Percentile p (0–100) of values in any order (sorts a copy); 0 when there are none. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(
    [...values].sort((a, b) => a - b),
    p,
  );
}
