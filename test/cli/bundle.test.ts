// The built CLI (dist/cli/main.js) runs `tcplens sockets` from the bundled module that
// scripts/bundle-cli.ts writes, and answers as the sources do: same output, same errors, same exit codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { has } from '../trace/live.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BUILT = join(ROOT, 'dist', 'cli', 'main.js');
const SOURCES = join(ROOT, 'src', 'cli', 'main.ts');
const skip = !existsSync(join(ROOT, 'dist', 'cli', 'program-bundle.js')) && 'dist/ is not built (npm run build)';

const run = (main: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('the built CLI answers as the sources do, for listings, groups, JSON, help and bad input', { skip }, () => {
  // A /proc of the test's own: the same table for both runs.
  const proc = mkdtempSync(join(tmpdir(), 'tcplens-bundle-proc-'));
  try {
    mkdirSync(join(proc, 'net'));
    mkdirSync(join(proc, 'sys', 'net', 'ipv4'), { recursive: true });
    copyFileSync(join(ROOT, 'test', 'fixtures', 'proc-net', 'tcp-every-state'), join(proc, 'net', 'tcp'));
    copyFileSync(join(ROOT, 'test', 'fixtures', 'proc-net', 'tcp6-mixed'), join(proc, 'net', 'tcp6'));
    copyFileSync('/proc/sys/net/ipv4/ip_local_port_range', join(proc, 'sys', 'net', 'ipv4', 'ip_local_port_range'));
    const env = { TCPLENS_PROC: proc };
    const cases = [
      ['sockets', '--source', 'proc'],
      ['sockets', '--source', 'proc', '--summary'],
      ['sockets', '--source', 'proc', '--summary', '--json'],
      ['sockets', '--source', 'proc', '--json', '--state', 'established'],
      ['sockets', '--source', 'proc', '--by', 'rport', '--top', '3'],
      ['sockets', '--source', 'proc', '-l'],
      ['sockets', '--help'],
      ['sockets', '--bogus'],
      ['sockets', '--state', 'nope'],
      ['sockets', '--source', 'proc', '-i'],
      ['--version'],
      ['--help'],
      ['help', 'sockets'],
      // Other commands run from their own modules, through the bundled program.
      ['counters', '--help'],
      ['exporter', '--help'],
      ['doctor', '--help'],
      ['trace', '--bogus'],
    ];
    for (const args of cases) {
      const built = run(BUILT, args, env);
      const sources = run(SOURCES, args, env);
      assert.deepEqual(built, sources, `tcplens ${args.join(' ')}`);
    }
    // The cases cover success, bad input (2) and a runtime refusal (1).
    assert.deepEqual([...new Set(cases.map((args) => run(BUILT, args, env).code))].sort(), [0, 1, 2]);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

test("the built CLI loads `sockets` from the bundle, not from its separate modules, and koffi's binary without its loader", {
  skip: skip || (!has('strace') && 'needs strace'),
}, () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'tcplens-bundle-')), 'opens.txt');
  try {
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=openat', '-o', trace, process.execPath, BUILT, 'sockets', '--summary'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const opened = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => !l.includes('ENOENT'))
      .map((l) => /openat\([^"]*"([^"]+)"/.exec(l)?.[1])
      .filter((p): p is string => p?.startsWith(ROOT) ?? false)
      .map((p) => p.slice(ROOT.length));
    assert.ok(opened.includes('dist/cli/program-bundle.js'), opened.join('\n'));
    assert.ok(!opened.includes('dist/cli/sockets.js') && !opened.includes('dist/cli/program.js'), opened.join('\n'));
    // On glibc Linux x64 or arm64 (this test's hosts) koffi's native module loads straight from its package.
    if (['x64', 'arm64'].includes(process.arch)) {
      assert.ok(
        opened.some((p) => p.endsWith(`/linux_${process.arch}/koffi.node`)),
        opened.join('\n'),
      );
      assert.ok(!opened.some((p) => p.endsWith('koffi/index.cjs')), opened.join('\n'));
    }
  } finally {
    rmSync(join(trace, '..'), { recursive: true, force: true });
  }
});
