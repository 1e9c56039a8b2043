// A lab run killed halfway (SIGTERM, Ctrl-C, a closed terminal's SIGHUP) leaves nothing behind: no namespace, no process, no sysctl.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { snapshotHost, labNamespacesOf, sysctlChanges } from './host-snapshot.ts';

const root = process.getuid?.() === 0;
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Every descendant of pid (children, grandchildren, …), from ps. */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of table) if (parent === p) out.push(child), walk(child);
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killHalfway(signal: NodeJS.Signals): Promise<void> {
  const before = snapshotHost();
  // E4 spends most of its time waiting on idle connections in two namespace pairs: a good "halfway".
  const child = spawn(process.execPath, [MAIN, 'lab', 'run', 'E4', '--quick'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const exited = once(child, 'exit');
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  try {
    // Halfway: both namespace pairs exist and the clients inside are running.
    const deadline = Date.now() + 30_000;
    let kids: number[] = [];
    while (Date.now() < deadline) {
      kids = descendants(child.pid!);
      if (labNamespacesOf(child.pid!).length === 4 && kids.length >= 6) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(labNamespacesOf(child.pid!).length, 4, `the run made its namespaces: ${stderr}`);
    await new Promise((r) => setTimeout(r, 500));
    kids = descendants(child.pid!);
    child.kill(signal);
    const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(sig, null, 'the run exits by itself after cleaning up');
    assert.equal(code, { SIGTERM: 143, SIGINT: 130, SIGHUP: 129 }[signal as string]);
    // What ran is printed, and its first line says the run did not end by itself.
    assert.match(stdout.split('\n')[0] ?? '', /^tcplens lab .* interrupted during E4$/, stdout);
    const after = snapshotHost();
    assert.deepEqual(labNamespacesOf(child.pid!, after), []);
    assert.deepEqual(kids.filter(alive), [], 'every process the run started is gone');
    assert.deepEqual(sysctlChanges(before, after), []);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

test('a run killed with SIGTERM halfway removes its namespaces and processes and touches no sysctl', {
  skip: !root && 'needs root',
}, async () => {
  await killHalfway('SIGTERM');
});

test('Ctrl-C (SIGINT) halfway cleans up the same way', { skip: !root && 'needs root' }, async () => {
  await killHalfway('SIGINT');
});

test('a closed terminal (SIGHUP) halfway cleans up the same way and exits 129', {
  skip: !root && 'needs root',
}, async () => {
  await killHalfway('SIGHUP');
});
