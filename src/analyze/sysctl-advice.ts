// Sysctl advice, pure: current values and a profile in; rows, a sysctl.d file and an apply plan with its rollback out.

import type { OpenFilesLimit, LimitValue } from '../kernel/limits.ts';
import {
  formatSysctlValue,
  normalizeSysctlText,
  parseSysctlValue,
  portCount,
  type SysctlChange,
  type SysctlReading,
  type SysctlValue,
} from '../kernel/sysctl.ts';
import {
  NOFILE_ADVICE,
  SYSCTL_CATALOG,
  type KnobInfo,
  type KnobScope,
  type Profile,
  type Rule,
} from './sysctl-catalog.ts';

/**
 * ok: meets the profile's rule. differs: does not; --emit and --apply would change it.
 * absent: this kernel or this network namespace does not list it. info: present, and the profile
 * has no opinion (or it is read-only context such as fs.*).
 */
export type KnobStatus = 'ok' | 'differs' | 'absent' | 'info';

export interface KnobRow {
  name: string;
  scope: KnobScope;
  present: boolean;
  /** The kernel's value as sysctl(8) text ("32768 60999"); null when absent. */
  current: string | null;
  default: string | null;
  defaultNote: string | null;
  /** The value --emit and --apply would set; null when the profile has no opinion. */
  recommended: string | null;
  rule: Rule['op'] | null;
  status: KnobStatus;
  why: string;
  what: string;
}

export interface NofileRow {
  /** The process read: its pid, or 'self' for this tcplens process. */
  pid: number | 'self';
  soft: LimitValue;
  hard: LimitValue;
  /** Minimum soft limit the profile wants; null for no opinion. */
  recommendedMin: number | null;
  status: 'ok' | 'differs' | 'info';
  why: string;
}

export interface SysctlReport {
  profile: Profile;
  /** Kernel release (uname -r), since defaults and knobs differ between kernels. */
  kernel: string;
  knobs: KnobRow[];
  nofile: NofileRow;
}

/** Whether a value meets a rule. Pure. */
export function meetsRule(rule: Rule, value: SysctlValue): boolean {
  if (rule.op === 'portsAtLeast') {
    return typeof value === 'object' && !Array.isArray(value) && portCount(value) >= portCount(rule.value);
  }
  if (typeof value !== 'number') return false;
  switch (rule.op) {
    case 'equal':
      return value === rule.value;
    case 'atLeast':
      return value >= rule.value;
    case 'atMost':
      return value <= rule.value;
  }
}

function absentWhy(knob: KnobInfo): string {
  if (knob.scope === 'global') {
    return 'not listed: a host-wide knob appears only in the initial network namespace (or this kernel lacks it)';
  }
  return `not in this kernel${knob.defaultNote ? ` (${knob.defaultNote})` : ''}`;
}

/** One row of the table for one knob. Pure. */
export function adviseKnob(knob: KnobInfo, reading: SysctlReading | undefined, profile: Profile): KnobRow {
  const { rule, why } = knob.advice[profile];
  const present = reading?.present === true;
  let status: KnobStatus = 'absent';
  if (reading?.present) {
    status = !rule ? 'info' : meetsRule(rule, parseSysctlValue(knob.shape, reading.raw, knob.name)) ? 'ok' : 'differs';
  }
  // Keys in the order of the documented JSON schema (src/cli/sysctl.ts).
  return {
    name: knob.name,
    scope: knob.scope,
    present,
    current: reading?.present ? normalizeSysctlText(reading.raw) : null,
    default: knob.default,
    defaultNote: knob.defaultNote ?? null,
    recommended: rule ? formatSysctlValue(rule.value) : null,
    rule: rule?.op ?? null,
    status,
    why: present ? why : absentWhy(knob),
    what: knob.what,
  };
}

/** Rows for every catalog knob, in catalog order; a knob missing from `readings` counts as absent. Pure. */
export function adviseSysctls(
  readings: readonly SysctlReading[],
  profile: Profile,
  catalog: readonly KnobInfo[] = SYSCTL_CATALOG,
): KnobRow[] {
  const byName = new Map(readings.map((r) => [r.name, r]));
  return catalog.map((knob) => adviseKnob(knob, byName.get(knob.name), profile));
}

/** RLIMIT_NOFILE against the profile's minimum. Pure. */
export function adviseNofile(limit: OpenFilesLimit, profile: Profile): NofileRow {
  const { min, why } = NOFILE_ADVICE[profile];
  const row = { pid: limit.pid, soft: limit.soft, hard: limit.hard, recommendedMin: min };
  if (min === null) return { ...row, status: 'info', why: `no opinion: ${why}` };
  const ok = limit.soft === 'unlimited' || limit.soft >= min;
  return { ...row, status: ok ? 'ok' : 'differs', why };
}

export function buildSysctlReport(input: {
  profile: Profile;
  kernel: string;
  readings: readonly SysctlReading[];
  nofile: OpenFilesLimit;
}): SysctlReport {
  return {
    profile: input.profile,
    kernel: input.kernel,
    knobs: adviseSysctls(input.readings, input.profile),
    nofile: adviseNofile(input.nofile, input.profile),
  };
}

/** Names tcplens may write: net.* only, never fs.* or anything else host-wide outside the network stack. */
export function mayWrite(row: Pick<KnobRow, 'name' | 'scope'>): boolean {
  return row.name.startsWith('net.') && row.scope !== 'host';
}

// Shell-safe `value` for a sysctl -w line: quoted when it has spaces, is empty, or has odd characters.
function shellWord(text: string): string {
  return /^[A-Za-z0-9_.,:/-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** `sysctl -w name=value`, ready to paste into a root shell. Pure. */
export function sysctlWriteCommand(name: string, value: string): string {
  return `sysctl -w ${name}=${shellWord(value)}`;
}

/**
 * A /etc/sysctl.d file with the profile's recommendations that differ from the current values,
 * each preceded by its reason, and the current values in comments to roll back. Pure.
 */
export function emitSysctlConf(report: SysctlReport): string {
  const differ = report.knobs.filter((k) => k.status === 'differs' && k.recommended !== null && mayWrite(k));
  const file = `/etc/sysctl.d/90-tcplens-${report.profile}.conf`;
  const lines = [
    `# ${file}`,
    `# Written by tcplens for the "${report.profile}" profile on kernel ${report.kernel}.`,
    '# Only the knobs whose current value differs from the recommendation. Review, then:',
    `#   sudo install -m 644 this-file ${file} && sudo sysctl --system`,
  ];
  if (differ.length === 0) {
    lines.push('#', '# Nothing to change: every recommendation of this profile is already met.');
    return lines.join('\n') + '\n';
  }
  lines.push('# To roll back, run:');
  for (const k of differ) lines.push(`#   ${sysctlWriteCommand(k.name, k.current ?? '')}`);
  for (const k of differ) {
    const was = k.current === '' ? 'empty' : k.current;
    const def = k.default ?? k.defaultNote ?? 'unknown';
    lines.push('', `# ${k.why}`, `# (was ${was}; kernel default ${def})`, `${k.name} = ${k.recommended}`);
  }
  return lines.join('\n') + '\n';
}

export interface ApplySkip {
  name: string;
  reason: string;
}

export interface ApplyPlan {
  profile: Profile;
  /** Writes to make, in catalog order. */
  changes: SysctlChange[];
  /** Recommendations that cannot be applied here, with the reason. */
  skipped: ApplySkip[];
  /** Commands that restore every value the plan changes. */
  rollback: string[];
}

/**
 * What --apply would do: write each net.* knob that differs; skip, with the reason, recommended
 * knobs this kernel or network namespace does not list. Nothing outside net.* (fs.*), ever. Pure.
 */
export function planApply(report: SysctlReport): ApplyPlan {
  const changes: SysctlChange[] = [];
  const skipped: ApplySkip[] = [];
  for (const k of report.knobs) {
    if (k.recommended === null) continue;
    if (!mayWrite(k)) {
      if (k.status === 'differs') skipped.push({ name: k.name, reason: 'tcplens never writes outside net.*' });
      continue;
    }
    if (k.status === 'absent') skipped.push({ name: k.name, reason: k.why });
    else if (k.status === 'differs') changes.push({ name: k.name, from: k.current ?? '', to: k.recommended });
  }
  return {
    profile: report.profile,
    changes,
    skipped,
    rollback: changes.map((c) => sysctlWriteCommand(c.name, c.from)),
  };
}
