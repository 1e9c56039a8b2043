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
