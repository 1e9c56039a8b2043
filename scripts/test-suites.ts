// Which test files are unit tests (fast, pure: no root, no child processes, no namespaces, no
// bpftrace, no browser) and which are system tests (everything else). `npm test` runs both.

import { globSync } from 'node:fs';

/** A new unit test is named `*.unit.test.ts` and is found by that name. */
export const UNIT_PATTERN = 'test/**/*.unit.test.ts';

/** Every test file, relative to the repository root, sorted. */
export function allTestFiles(root: string): string[] {
  return globSync('test/**/*.test.ts', { cwd: root }).sort();
}

export function unitTestFiles(root: string): string[] {
  return globSync(UNIT_PATTERN, { cwd: root }).sort();
}

export function systemTestFiles(root: string): string[] {
  const unit = new Set(unitTestFiles(root));
  return allTestFiles(root).filter((f) => !unit.has(f));
}
