// The test helpers' children never outlive the test process (test/helpers/children.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const CHILDREN = new URL('./helpers/children.ts', import.meta.url).href;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a child still running when the test process exits is killed, by process.exit or by an uncaught error', () => {
  for (const ending of ['process.exit(3)', 'throw new Error("boom")']) {
    const script = `import { spawn } from 'node:child_process';
const { killOnExit } = await import(${JSON.stringify(CHILDREN)});
const child = killOnExit(spawn('sleep', ['60'], { stdio: 'ignore' }));
console.log(child.pid);
${ending};`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0, r.stderr);
    assert.notEqual(r.status, 0);
    // SIGKILL is delivered before the parent's exit returns; the zombie is reaped by init soon after.
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    assert.ok(!alive(pid), `sleep (pid ${pid}) outlived its parent after: ${ending}`);
  }
});
