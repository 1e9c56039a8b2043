import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { KernelReadError } from '../../src/errors.ts';
import { parseLimits, parseOpenFilesLimit, readOpenFilesLimit } from '../../src/kernel/limits.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sysctl/', import.meta.url));
const TABLE = readFileSync(join(FIXTURES, 'host-6.18/4242/limits'), 'utf8');

test('reads the soft and hard open-files limit from a /proc/<pid>/limits table', () => {
  assert.deepEqual(parseOpenFilesLimit(TABLE, 4242), { pid: 4242, soft: 1024, hard: 524288 });
});

test('keeps names with spaces whole and reads unitless and unlimited rows', () => {
  const limits = parseLimits(TABLE);
  assert.deepEqual(limits.get('Max realtime timeout'), { soft: 'unlimited', hard: 'unlimited', units: 'us' });
  assert.deepEqual(limits.get('Max nice priority'), { soft: 0, hard: 0, units: '' });
  assert.deepEqual(limits.get('Max stack size'), { soft: 8388608, hard: 'unlimited', units: 'bytes' });
  assert.equal(limits.has('Limit'), false);
});

test('reads an unlimited open-files limit as "unlimited", not a number', () => {
  const text =
    'Limit                     Soft Limit           Hard Limit           Units\n' +
    'Max open files            unlimited            unlimited            files\n';
  assert.deepEqual(parseOpenFilesLimit(text), { pid: 'self', soft: 'unlimited', hard: 'unlimited' });
});

test('says so when the table has no open-files line or a value is not a number', () => {
  assert.throws(() => parseOpenFilesLimit('Limit  Soft Limit  Hard Limit  Units\n'), KernelReadError);
  assert.throws(
    () => parseLimits('Max open files            lots                 4096                 files\n'),
    KernelReadError,
  );
});

test('names the missing process when --pid points at none', () => {
  assert.throws(
    () => readOpenFilesLimit(99999, join(FIXTURES, 'host-6.18')),
    (err: unknown) => err instanceof KernelReadError && /no process with pid 99999/.test(err.message),
  );
  assert.deepEqual(readOpenFilesLimit(4242, join(FIXTURES, 'host-6.18')), { pid: 4242, soft: 1024, hard: 524288 });
});

test('shows this Node process with its soft limit raised to the hard one', {
  skip: process.platform !== 'linux' && 'needs /proc',
}, () => {
  const self = readOpenFilesLimit('self', '/proc');
  // With an unlimited hard limit Node stops at the highest soft limit the kernel accepts (fs.nr_open).
  if (self.hard !== 'unlimited') assert.equal(self.soft, self.hard);
});
