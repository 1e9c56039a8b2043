// Text and Markdown for `tcplens doctor`: the worst first, evidence indented, a summary line.

import type { Finding, Severity } from '../model/finding.ts';
import { type Color, paint } from './table.ts';

const MARK: Record<Severity, [string, Color | undefined]> = {
  critical: ['CRITICAL', 'red'],
  warning: ['WARNING', 'yellow'],
  info: ['info', 'cyan'],
  ok: ['ok', 'green'],
};

export interface DoctorReport {
  host: string;
  kernel: string;
  durationS: number;
  root: boolean;
  findings: Finding[];
  /** What a run as root would add. */
  rootWouldAdd: string[];
}

function summaryLine(r: DoctorReport): string {
  const n = (s: Severity) => r.findings.filter((f) => f.severity === s).length;
  return `${n('critical')} critical, ${n('warning')} warning, ${n('info')} info — ${r.host}, Linux ${r.kernel}, ${r.durationS} s window`;
}

export function renderDoctor(r: DoctorReport, color: boolean): string {
  const out: string[] = [];
  if (r.findings.length === 0)
    out.push(paint('No problems found in the TCP state of this host.', 'green', color) + '\n');
  for (const f of r.findings) {
    const [label, col] = MARK[f.severity];
    out.push(`${paint(label.padEnd(8), col, color)} ${paint(f.title, 'bold', color)}  [${f.id}]\n`);
    for (const e of f.evidence) out.push(`         · ${e}\n`);
    out.push(`         why: ${f.mechanism}\n`);
    for (const fix of f.fix) out.push(`         fix: ${fix}\n`);
    out.push('\n');
  }
  out.push(summaryLine(r) + '\n');
  for (const more of r.rootWouldAdd) out.push(`(not root: run as root to see ${more})\n`);
  return out.join('');
}

export function renderDoctorMarkdown(r: DoctorReport): string {
  const out = [`# tcplens doctor — ${r.host}\n`, `Linux ${r.kernel}, ${r.durationS} s window. ${summaryLine(r)}\n`];
  for (const f of r.findings) {
    out.push(`\n## ${f.severity.toUpperCase()}: ${f.title} (\`${f.id}\`)\n\n`);
    for (const e of f.evidence) out.push(`- ${e}\n`);
    out.push(`\n${f.mechanism}\n\n**Fix:**\n\n`);
    for (const fix of f.fix) out.push(`- ${fix}\n`);
  }
  return out.join('');
}
