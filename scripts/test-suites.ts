// Which test files are unit tests (fast, pure: no root, no child processes, no namespaces, no
// bpftrace, no browser) and which are system tests (everything else). `npm test` runs both.

import { globSync } from 'node:fs';

/** A new unit test is named `*.unit.test.ts` and is found by that name. */
export const UNIT_PATTERN = 'test/**/*.unit.test.ts';

/**
 * Unit tests written before the naming rule; each moves to the rule (renamed `*.unit.test.ts`) in
 * the sweep that renames files, and leaves this list then.
 */
export const UNIT_FILES: readonly string[] = [
  'test/analyze/counter-delta.test.ts',
  'test/analyze/socket-summary.test.ts',
  'test/analyze/sysctl-advice.test.ts',
  'test/bench/bench-render.test.ts',
  'test/bench/bench-report-verdict.test.ts',
  'test/bench/recorder.test.ts',
  'test/doctor/rules.test.ts',
  'test/http/request.test.ts',
  'test/http/response-parser.test.ts',
  'test/index.test.ts',
  'test/kernel/limits.test.ts',
  'test/kernel/proc-net-tcp.test.ts',
  'test/kernel/snmp.test.ts',
  'test/kernel/sockstat.test.ts',
  'test/lab/conclusions.test.ts',
  'test/lab/render.test.ts',
  'test/layering.test.ts',
  'test/node-internals.test.ts',
  'test/test-split.test.ts',
  'test/trace/filter.test.ts',
  'test/trace/parse.test.ts',
  'test/trace/reorder.test.ts',
  'test/trace/script.test.ts',
  'test/trace/summary.test.ts',
];

/** Every test file, relative to the repository root, sorted. */
export function allTestFiles(root: string): string[] {
  return globSync('test/**/*.test.ts', { cwd: root }).sort();
}

export function unitTestFiles(root: string): string[] {
  const all = new Set(allTestFiles(root));
  const named = globSync(UNIT_PATTERN, { cwd: root });
  return [...new Set([...UNIT_FILES, ...named])].filter((f) => all.has(f)).sort();
}

export function systemTestFiles(root: string): string[] {
  const unit = new Set(unitTestFiles(root));
  return allTestFiles(root).filter((f) => !unit.has(f));
}
