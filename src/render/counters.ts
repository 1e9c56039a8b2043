// Text and JSON for `tcplens counters`: a table of absolute values or of one interval's changes.

import { type CounterRow, groupRows } from '../analyze/counter-delta.ts';
import { formatCount } from '../text/number.ts';
import { type Column, paint, renderTable } from './table.ts';

export interface CounterRenderOptions {
  color: boolean;
  /** Add the one-line meaning of each counter. */
  explain: boolean;
}

/** One interval of `--interval`: when it ended, how long it really lasted, and its rows. */
export interface CounterSample {
  time: Date;
  intervalS: number;
  rows: CounterRow[];
}

// The marker shows without colour too (a pipe, NO_COLOR, a screen reader).
const MARK = '!';

function mark(row: CounterRow, color: boolean): string {
  return row.alarm ? paint(MARK, 'red', color) : '';
}

function alarmed(text: string, row: CounterRow, color: boolean): string {
  return row.alarm ? paint(text, 'red', color) : text;
}

// Dimmed, so the numbers stay what the eye finds first; an alarm's meaning is the news, so not dimmed.
function meaning(row: CounterRow, color: boolean): string {
  if (!row.meaning) return '';
  return row.alarm ? row.meaning : paint(row.meaning, 'dim', color);
}

/** A level's change keeps its sign ("+3", "-2"); an event count only goes up. */
function formatDelta(row: CounterRow): string {
  const d = row.delta ?? 0;
  if (row.kind === 'gauge' && d > 0) return `+${formatCount(d)}`;
  return formatCount(d);
}

function formatRate(rate: number | undefined): string {
  if (rate === undefined) return '-';
  if (rate === 0) return '0';
  const digits = Math.abs(rate) < 10 ? 2 : Math.abs(rate) < 100 ? 1 : 0;
  return rate.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function legend(rows: readonly CounterRow[], opts: CounterRenderOptions): string {
  if (!rows.some((r) => r.alarm)) return '';
  const more = opts.explain ? '' : ' (--explain says what each one means)';
  return `${paint(MARK, 'red', opts.color)} harmful when it moves${more}\n`;
}

/** Absolute values: marker, section, counter, value, and the meaning with --explain. */
export function renderCounterTable(rows: readonly CounterRow[], opts: CounterRenderOptions, empty: string): string {
  if (rows.length === 0) return `${empty}\n`;
  const columns: Column[] = [
    { header: '' },
    { header: 'Section' },
    { header: 'Counter' },
    { header: 'Value', align: 'right' },
  ];
  if (opts.explain) columns.push({ header: 'Meaning' });
  const cells = rows.map((r) => {
    const row = [mark(r, opts.color), r.section, r.field, alarmed(formatCount(r.value), r, opts.color)];
    if (opts.explain) row.push(meaning(r, opts.color));
    return row;
  });
  return renderTable(columns, cells) + legend(rows, opts);
}

/** One interval: a heading with its end time and length, then changes, rates per second and current values. */
export function renderCounterSample(sample: CounterSample, opts: CounterRenderOptions, empty: string): string {
  const heading = paint(`${sample.time.toISOString()}  over ${sample.intervalS.toFixed(2)} s`, 'bold', opts.color);
  if (sample.rows.length === 0) return `${heading}\n${empty}\n\n`;
  const columns: Column[] = [
    { header: '' },
    { header: 'Section' },
    { header: 'Counter' },
    { header: 'Delta', align: 'right' },
    { header: 'Per sec', align: 'right' },
    { header: 'Now', align: 'right' },
  ];
  if (opts.explain) columns.push({ header: 'Meaning' });
  const cells = sample.rows.map((r) => {
    const row = [
      mark(r, opts.color),
      r.section,
      r.field,
      alarmed(formatDelta(r), r, opts.color),
      alarmed(formatRate(r.ratePerSec), r, opts.color),
      formatCount(r.value),
    ];
    if (opts.explain) row.push(meaning(r, opts.color));
    return row;
  });
  return `${heading}\n${renderTable(columns, cells)}${legend(sample.rows, opts)}\n`;
}

/** `{Section: {Field: N}, …, "sockstat": {Line: {field: N}}}`; sockstat only when it has a row. */
function nest(rows: readonly CounterRow[], pick: (row: CounterRow) => number | undefined): Record<string, unknown> {
  const { sections, sockstat } = groupRows(rows, pick);
  return Object.keys(sockstat).length > 0 ? { ...sections, sockstat } : sections;
}

/** The absolute `--json` document (schema at the top of cli/counters.ts). */
export function countersJson(rows: readonly CounterRow[]): Record<string, unknown> {
  return nest(rows, (r) => r.value);
}

/** One element of `samples` in the interval `--json` document. */
export function sampleJson(sample: CounterSample): Record<string, unknown> {
  return {
    time: sample.time.toISOString(),
    intervalS: Math.round(sample.intervalS * 1000) / 1000,
    deltas: nest(sample.rows, (r) => r.delta),
    rates: nest(sample.rows, (r) => (r.ratePerSec === undefined ? undefined : Math.round(r.ratePerSec * 1000) / 1000)),
    values: nest(sample.rows, (r) => r.value),
  };
}
