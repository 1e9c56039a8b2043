// The lab as text: the catalogue (`lab list`) and each experiment's rows, conclusion and skips.

import type { Cell, Experiment, ExperimentResult } from '../lab/experiment.ts';
import type { LabReport } from '../lab/runner.ts';
import { formatCell } from '../text/number.ts';
import { paint, renderTable } from './table.ts';

/** The columns of a set of rows: every key, in the order first seen. */
export function rowColumns(rows: Record<string, Cell>[]): string[] {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** One table of an experiment's rows, as text cells: what the text and the HTML report both lay out. */
export interface TableBlock {
  /** The rows' `part`, when an experiment's rows come in parts with columns of their own. */
  title?: string;
  headers: string[];
  cells: string[][];
  /** Per column: right-aligned (numbers). */
  numeric: boolean[];
  /** Rows and columns swapped: each measured row is a column, headed by its first cell. */
  transposed: boolean;
}

/** Wider than this (in characters) a table of few rows is shown turned on its side, when that is narrower: indented by 2, within 100 columns. */
export const MAX_TABLE_WIDTH = 98;

function textWidth(headers: string[], cells: string[][]): number {
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  return widths.reduce((a, b) => a + b, 0) + 2 * Math.max(0, widths.length - 1);
}

/**
 * The tables of a set of rows: one per `part` when the rows carry one (E2's three parts share no
 * columns), without the columns that are empty in every row, and turned on their side when they
 * would be too wide and turning makes them narrower (E3: two settings, nineteen measurements).
 */
export function tableBlocks(
  rows: Record<string, Cell>[],
  blanks: Record<string, string> = {},
  hidden: string[] = [],
): TableBlock[] {
  // No rows (an experiment interrupted or failed before it measured): no table, not an empty one.
  if (rows.length === 0) return [];
  const parts: string[] = [];
  for (const r of rows) if (typeof r.part === 'string' && !parts.includes(r.part)) parts.push(r.part);
  // One part is a table with a title, not a column repeating the same word on every row.
  const split = parts.length >= 1 && rows.every((r) => typeof r.part === 'string');
  const groups = split
    ? parts.map((p) => ({ title: p as string | undefined, rows: rows.filter((r) => r.part === p) }))
    : [{ title: undefined, rows }];
  return groups.map(({ title, rows: group }) => {
    const shown = (c: string) =>
      group.some((r) => (r[c] !== null && r[c] !== undefined) || (r[c] === null && blanks[c] !== undefined));
    const cols = rowColumns(group).filter((c) => !(split && c === 'part') && !hidden.includes(c) && shown(c));
    const cell = (r: Record<string, Cell>, c: string) =>
      r[c] === null && blanks[c] !== undefined ? blanks[c]! : formatCell(r[c]);
    const cells = group.map((r) => cols.map((c) => cell(r, c)));
    const numeric = cols.map((c) => group.some((r) => typeof r[c] === 'number'));
    const block: TableBlock = { title, headers: cols, cells, numeric, transposed: false };
    if (cols.length < 3 || group.length > 6 || textWidth(cols, cells) <= MAX_TABLE_WIDTH) return block;
    const turned: TableBlock = {
      title,
      headers: [cols[0]!, ...cells.map((r) => r[0]!)],
      cells: cols.slice(1).map((c, i) => [c, ...cells.map((r) => r[i + 1]!)]),
      numeric: [false, ...cells.map(() => true)],
      transposed: true,
    };
    return textWidth(turned.headers, turned.cells) < textWidth(cols, cells) ? turned : block;
  });
}

export function renderLabList(experiments: readonly Experiment[], root: boolean): string {
  const rows = experiments.map((e) => [
    e.id,
    e.title,
    e.needsRoot ? `no: ${e.needsRoot}` : e.rootFor ? `partly: root for ${e.rootFor}` : 'in full, on loopback',
  ]);
  const table = renderTable([{ header: 'ID' }, { header: 'EXPERIMENT' }, { header: 'WITHOUT ROOT' }], rows);
  const note = root
    ? 'You are root: every experiment runs in full, in network namespaces of its own.'
    : 'You are not root: the parts that need root are skipped, and each run says which and why.';
  return table + '\n' + note + '\n';
}

function wrap(text: string, width = 96, indent = '  '): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n') + '\n';
}

export function renderExperiment(r: ExperimentResult, color: boolean): string {
  let s = `${paint(`${r.id}  ${r.title}`, 'bold', color)}  ${paint(`(${(r.durationMs / 1000).toFixed(1)} s)`, 'dim', color)}\n`;
  s += paint(wrap(r.shows), 'dim', color);
  if (r.skippedWhy) return s + `  ${paint('skipped', 'yellow', color)}: ${r.skippedWhy}\n`;
  const blocks = tableBlocks(r.rows, r.blanks, r.hidden);
  for (const b of blocks) {
    const table = renderTable(
      b.headers.map((h, i) => ({ header: h, align: b.numeric[i] ? ('right' as const) : ('left' as const) })),
      b.cells,
    );
    s +=
      '\n' +
      (b.title ? `  ${paint(b.title, 'bold', color)}\n` : '') +
      table.replace(/^(?=.)/gm, '  ').replace(/ +$/gm, '');
  }
  if (blocks.length > 0) s += '\n';
  if (r.error) s += `  ${paint('failed', 'red', color)}: ${r.error}\n`;
  s += wrap(`${paint('→', 'cyan', color)} ${r.conclusion}`);
  for (const why of r.skipped ?? []) s += `  ${paint('skipped', 'yellow', color)}: ${why}\n`;
  return s;
}

/** "interrupted during E4 (not run: E5 E6)" for a run stopped halfway; '' for one that ran to its end. */
export function interruptedText(report: LabReport): string {
  if (!report.interrupted) return '';
  const during = report.experiments.find((r) => r.error === 'interrupted')?.id;
  return `interrupted${during ? ` during ${during}` : ''}${report.notRun.length ? ` (not run: ${report.notRun.join(' ')})` : ''}`;
}

/** The run's first line: kernel, privileges, and whether it ran to its end. */
export function labHeadline(report: LabReport): string {
  const stopped = report.interrupted ? `  ${interruptedText(report)}` : '';
  return `tcplens lab  kernel ${report.kernel}  ${report.root ? 'root' : 'not root'}${report.quick ? '  --quick' : ''}  ${(report.durationMs / 1000).toFixed(1)} s${stopped}`;
}

export function renderLab(report: LabReport, color: boolean): string {
  const head = report.interrupted ? paint(labHeadline(report), 'yellow', color) : labHeadline(report);
  const stale =
    report.staleRemoved.length > 0
      ? `removed ${report.staleRemoved.length} namespace(s) left by a killed run: ${report.staleRemoved.join(', ')}\n`
      : '';
  return head + '\n' + stale + '\n' + report.experiments.map((r) => renderExperiment(r, color)).join('\n');
}

/** The --json document: {"experiments":[{"id","title","rows","conclusion",…}], …}. */
export function labJson(report: LabReport): unknown {
  return {
    tool: report.tool,
    kernel: report.kernel,
    root: report.root,
    quick: report.quick,
    startedAt: report.startedAt,
    durationMs: report.durationMs,
    staleRemoved: report.staleRemoved,
    interrupted: report.interrupted,
    notRun: report.notRun,
    experiments: report.experiments.map((r) => ({
      id: r.id,
      title: r.title,
      shows: r.shows,
      rows: r.rows,
      conclusion: r.conclusion,
      ...(r.skippedWhy ? { skippedWhy: r.skippedWhy } : {}),
      skipped: r.skipped ?? [],
      ...(r.blanks ? { blanks: r.blanks } : {}),
      ...(r.hidden ? { hidden: r.hidden } : {}),
      ...(r.error ? { error: r.error } : {}),
      durationMs: r.durationMs,
      charts: r.charts,
    })),
  };
}
