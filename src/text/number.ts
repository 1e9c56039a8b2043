// Numbers as text for people: thousands separators, shares and table cells. Every layer formats
// numbers the same way, so the helpers live here rather than in render/.

/** 12345 → "12,345". */
export function formatCount(n: number): string {
  // By hand: the first toLocaleString call loads ICU data, which costs more than a whole scan.
  if (!Number.isInteger(n)) return String(n);
  const s = String(Math.abs(n));
  let outText = '';
  for (let i = s.length; i > 0; i -= 3) outText = s.slice(Math.max(0, i - 3), i) + (outText ? ',' + outText : '');
  return n < 0 ? '-' + outText : outText;
}

/** 0.1234 → "12.3%". */
export function formatShare(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  return `${(fraction * 100).toFixed(1)}%`;
}

/** One table cell as text: whole numbers with separators, fractions to three significant places. */
export function formatCell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return formatCount(v);
  const abs = Math.abs(v);
  return abs >= 100
    ? formatCount(Math.round(v))
    : abs >= 10
      ? v.toFixed(1)
      : abs >= 1
        ? v.toFixed(2)
        : v.toPrecision(2);
}
