import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allTestFiles, systemTestFiles, unitTestFiles } from '../scripts/test-suites.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

// What makes a test a system test: a child process, a namespace, a browser, root, the CLI run as
// a process, or the host's own sockets.
const SYSTEM_MARKS: [RegExp, string][] = [
  [/from 'node:child_process'/, 'starts a child process'],
  [/kernel\/netns\.ts'/, 'creates a network namespace'],
  [/from 'playwright-core'/, 'drives a browser'],
  [/getuid/, 'depends on root'],
  [/helpers\/(cli|serve-cli|scenarios|ss)\.ts'/, 'runs the CLI or reads the host with ss'],
];

/** The file and the test helpers it imports, transitively (src/ is what is tested, not how). */
function withTestHelpers(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(join(root, file), 'utf8');
  for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
    const target = relative(root, join(root, dirname(file), m[1]!));
    if (target.startsWith('test/') && target.endsWith('.ts') && existsSync(join(root, target)))
      withTestHelpers(target, seen);
  }
  return seen;
}

test('unit and system tests together are all the tests, once', () => {
  const unit = unitTestFiles(root);
  const system = systemTestFiles(root);
  assert.deepEqual([...unit, ...system].sort(), allTestFiles(root));
  assert.ok(unit.length > 0 && system.length > 0);
});

test('unit tests start no process, namespace or browser and do not depend on root', () => {
  const problems: string[] = [];
  // This file names the marks it looks for; it is the one file not read for them.
  for (const file of unitTestFiles(root).filter((f) => f !== 'test/test-split.unit.test.ts')) {
    for (const used of withTestHelpers(file)) {
      const text = readFileSync(join(root, used), 'utf8');
      for (const [mark, what] of SYSTEM_MARKS) {
        if (mark.test(text))
          problems.push(`${file}${used === file ? '' : ` (through ${used})`} ${what}: name it a system test`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
