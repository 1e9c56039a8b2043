import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { assertWritableFile } from '../../src/cli/output.ts';
import { UsageError } from '../../src/errors.ts';

test('a report file is checked before the run: a missing directory, a directory, a read-only file, no name', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const refused = (path: string, why: RegExp) =>
    assert.throws(
      () => assertWritableFile(path, '--html'),
      (e: unknown) => e instanceof UsageError && why.test(e.message),
    );
  refused(join(dir, 'nope', 'x.html'), /^--html: cannot write .*x\.html \(no directory .*nope\)$/);
  refused(dir, /it is a directory/);
  refused('  ', /^--html needs a file name$/);
  const ro = join(dir, 'ro.html');
  writeFileSync(ro, 'old');
  chmodSync(ro, 0o444);
  // root may write anything; the check must agree with what the kernel would allow.
  const rootCanWrite = spawnSync('sh', ['-c', `test -w ${ro}`]).status === 0;
  if (rootCanWrite) assertWritableFile(ro, '--html');
  else refused(ro, /EACCES/);
  const fresh = join(dir, 'new.html');
  assertWritableFile(fresh, '--html');
  assert.equal(existsSync(fresh), false, 'the check leaves nothing behind');
});
