// Runs the unit tests (in parallel, in seconds), the system tests (one file at a time, as root
// for the namespace and bpftrace ones), or both: `node scripts/test.ts unit|system|all [node --test flags]`.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { systemTestFiles, unitTestFiles, allTestFiles } from './test-suites.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const [suite = 'all', ...extra] = process.argv.slice(2);

const runs: Record<string, { files: string[]; flags: string[] }> = {
  unit: { files: unitTestFiles(root), flags: ['--test-timeout=60000', '--test-force-exit'] },
  // System tests share ports, namespaces and the host's counters: one file at a time.
  system: {
    files: systemTestFiles(root),
    flags: ['--test-concurrency=1', '--test-timeout=120000', '--test-force-exit'],
  },
  all: { files: allTestFiles(root), flags: ['--test-concurrency=1', '--test-timeout=120000', '--test-force-exit'] },
};
const run = runs[suite];
if (!run) {
  console.error(`tcplens: unknown test suite '${suite}' (unit, system or all)`);
  process.exit(2);
}
const result = spawnSync(process.execPath, ['--test', ...run.flags, ...extra, ...run.files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
