// The lab as text: the catalogue (`lab list`) and each experiment's rows, conclusion and skips.

import type { Cell, Experiment, ExperimentResult } from '../lab/experiment.ts';
import type { LabReport } from '../lab/runner.ts';
import { formatCount, paint, renderTable } from './table.ts';

/** One cell as text: whole numbers with separators, fractions to three significant places. */
export function formatCell(v: Cell | undefined): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return formatCount(v);
  const abs = Math.abs(v);
  return abs >= 100 ? formatCount(Math.round(v)) : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

/** The columns of a set of rows: every key, in the order first seen. */
export function rowColumns(rows: Record<string, Cell>[]): string[] {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

export function renderLabList(experiments: readonly Experiment[], root: boolean): string {
  const rows = experiments.map((e) => [e.id, e.title, e.needsRoot ? (root ? 'root (have it)' : `root: ${e.needsRoot}`) : 'anyone']);
  return renderTable([{ header: 'ID' }, { header: 'EXPERIMENT' }, { header: 'RUNS AS' }], rows);
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
  if (r.rows.length > 0) {
    const cols = rowColumns(r.rows);
    const table = renderTable(
      cols.map((c) => ({ header: c, align: r.rows.some((row) => typeof row[c] === 'number') ? ('right' as const) : ('left' as const) })),
      r.rows.map((row) => cols.map((c) => formatCell(row[c]))),
    );
    s += '\n' + table.replace(/^/gm, '  ').replace(/ +$/gm, '') + '\n';
  }
  if (r.error) s += `  ${paint('failed', 'red', color)}: ${r.error}\n`;
  s += wrap(`${paint('→', 'cyan', color)} ${r.conclusion}`);
  for (const why of r.skipped ?? []) s += `  ${paint('skipped', 'yellow', color)}: ${why}\n`;
  return s;
}

export function renderLab(report: LabReport, color: boolean): string {
  const head = `tcplens lab  kernel ${report.kernel}  ${report.root ? 'root' : 'not root'}${report.quick ? '  --quick' : ''}  ${(report.durationMs / 1000).toFixed(1)} s\n`;
  const stale = report.staleRemoved.length > 0 ? `removed ${report.staleRemoved.length} namespace(s) left by a killed run: ${report.staleRemoved.join(', ')}\n` : '';
  return head + stale + '\n' + report.experiments.map((r) => renderExperiment(r, color)).join('\n');
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
    experiments: report.experiments.map((r) => ({
      id: r.id,
      title: r.title,
      shows: r.shows,
      rows: r.rows,
      conclusion: r.conclusion,
      ...(r.skippedWhy ? { skippedWhy: r.skippedWhy } : {}),
      skipped: r.skipped ?? [],
      ...(r.error ? { error: r.error } : {}),
      durationMs: r.durationMs,
      charts: r.charts,
    })),
  };
}
