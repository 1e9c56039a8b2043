// One diagnosis of `tcplens doctor`: what is wrong (or fine), the numbers that show it, why, and the fix.

export type Severity = 'critical' | 'warning' | 'info' | 'ok';

export const SEVERITY_ORDER: Record<Severity, number> = { critical: 3, warning: 2, info: 1, ok: 0 };

export interface Finding {
  /** Stable, kebab-case: scripts and CI rules key on it. */
  id: string;
  severity: Severity;
  title: string;
  /** The numbers measured now, with units and where they came from. */
  evidence: string[];
  /** Two sentences, true of this kernel. */
  mechanism: string;
  /** Exact commands or code. */
  fix: string[];
}
