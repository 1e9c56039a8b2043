import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

test('docs/json-schemas.md is what the schema comments of src/cli/ give (npm run docs writes it)', () => {
  const r = spawnSync(process.execPath, ['scripts/docs.ts', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
