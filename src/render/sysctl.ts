// Text for `tcplens sysctl`: the knob table, the open-files line, and what --apply did or would do.

import type { ApplyPlan, KnobRow, KnobStatus, NofileRow, SysctlReport } from '../analyze/sysctl-advice.ts';
import type { SysctlWriteResult } from '../kernel/sysctl.ts';
import type { LimitValue } from '../kernel/limits.ts';
import { formatCount } from '../text/number.ts';
import { paint, renderTable, type Color } from './table.ts';

const STATUS_COLOR: Record<KnobStatus, Color> = { ok: 'green', differs: 'yellow', absent: 'dim', info: 'dim' };

/** How the rule reads in the table: "≥ 4096", "≤ 30", "1", "10000 65535". */
function recommendedCell(row: KnobRow): string {
  if (row.recommended === null) return '-';
  if (row.rule === 'atLeast') return `≥ ${row.recommended}`;
  if (row.rule === 'atMost') return `≤ ${row.recommended}`;
  return row.recommended;
}

function currentCell(row: KnobRow): string {
  if (row.current === null) return 'absent';
  return row.current === '' ? '(empty)' : row.current;
}

function limitText(v: LimitValue): string {
  return v === 'unlimited' ? 'unlimited' : formatCount(v);
}

function nofileText(n: NofileRow, color: boolean): string {
  const who = n.pid === 'self' ? 'this tcplens process' : `pid ${n.pid}`;
  const want = n.recommendedMin === null ? 'no recommendation' : `recommended soft ≥ ${formatCount(n.recommendedMin)}`;
  const lines = [
    `Open files (RLIMIT_NOFILE) of ${who}: soft ${limitText(n.soft)}, hard ${limitText(n.hard)}; ${want}: ` +
      paint(n.status, STATUS_COLOR[n.status], color),
    `  ${n.why}`,
  ];
  if (n.pid === 'self') {
    lines.push("  (Node raised this process's soft limit to its hard limit at start; use --pid to check your service)");
  }
  return lines.join('\n') + '\n';
}

export interface SysctlRenderOptions {
  color: boolean;
  /** Add what each knob really does and its kernel default under the table. */
  explain?: boolean;
}

export function renderSysctlReport(report: SysctlReport, { color, explain = false }: SysctlRenderOptions): string {
  const rows = report.knobs.map((k) => [
    k.name,
    currentCell(k),
    recommendedCell(k),
    paint(k.status, STATUS_COLOR[k.status], color),
    k.why,
  ]);
  const parts = [
    paint(`Kernel knobs for the ${report.profile} profile (Linux ${report.kernel})`, 'bold', color) + '\n\n',
    renderTable(
      [{ header: 'knob' }, { header: 'current' }, { header: 'recommended' }, { header: 'status' }, { header: 'why' }],
      rows,
    ),
    '\n',
    nofileText(report.nofile, color),
  ];
  if (explain) {
    parts.push('\n');
    for (const k of report.knobs) {
      const def = [k.default === null ? null : k.default === '' ? '(empty)' : k.default, k.defaultNote]
        .filter((s) => s !== null)
        .join('; ');
      parts.push(`${paint(k.name, 'cyan', color)} (default ${def || 'unknown'})\n  ${k.what}\n`);
    }
  }
  const differ = report.knobs.filter((k) => k.status === 'differs').length;
  if (differ > 0) {
    const cmd = `tcplens sysctl --profile ${report.profile}`;
    parts.push(
      `\n${differ} knob${differ === 1 ? '' : 's'} differ. ${cmd} --emit prints a /etc/sysctl.d file; ` +
        `as root, ${cmd} --apply changes the net.* ones now and prints how to undo it.\n`,
    );
  }
  return parts.join('');
}

/** The undo commands, printed before any write and again after. */
export function renderRollback(plan: ApplyPlan): string {
  if (plan.changes.length === 0) return '';
  return (
    ['To undo, run as root (in this same network namespace):', ...plan.rollback.map((c) => `  ${c}`)].join('\n') + '\n'
  );
}

function renderSkipped(plan: ApplyPlan): string {
  if (plan.skipped.length === 0) return '';
  return ['Skipped:', ...plan.skipped.map((s) => `  ${s.name}: ${s.reason}`)].join('\n') + '\n';
}

function changeLines(
  title: string,
  changes: readonly { name: string; from: string; to: string; now?: string }[],
): string {
  const lines = changes.map((c) => {
    const kept = c.now === undefined || c.now === c.to ? '' : ` (the kernel holds ${c.now})`;
    return `  ${c.name}: ${c.from || '(empty)'} → ${c.to}${kept}`;
  });
  return [title, ...lines].join('\n') + '\n';
}

/** What --apply --dry-run would change. */
export function renderApplyPlan(plan: ApplyPlan): string {
  const n = plan.changes.length;
  const head =
    n === 0
      ? `Dry run: nothing to change for the ${plan.profile} profile.\n`
      : changeLines(`Dry run: would change ${n} knob(s) for the ${plan.profile} profile:`, plan.changes);
  return head + renderSkipped(plan) + renderRollback(plan);
}

/** What --apply did, with the undo commands again. */
export function renderApplyResult(plan: ApplyPlan, results: readonly SysctlWriteResult[]): string {
  const n = results.length;
  const head =
    n === 0
      ? `Nothing to change for the ${plan.profile} profile.\n`
      : changeLines(`Changed ${n} knob(s) for the ${plan.profile} profile:`, results);
  return head + renderSkipped(plan) + renderRollback(plan);
}
