// Network namespaces made by a process never outlive it, however it ends.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';

const isRoot = process.getuid?.() === 0;
const NETNS = new URL('../../src/kernel/netns.ts', import.meta.url).href;

const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);

test('a namespace left open is deleted when its process exits, by process.exit or by an uncaught error', {
  skip: !isRoot && 'needs root',
}, () => {
  for (const ending of ['process.exit(3)', 'throw new Error("boom")']) {
    const script = `const { createNetns } = await import(${JSON.stringify(NETNS)});
const ns = createNetns('tcplens-test-exit');
console.log(ns.name);
${ending};`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const name = r.stdout.trim();
    assert.match(name, /^tcplens-test-exit-\d+-/, r.stderr);
    assert.notEqual(r.status, 0, 'the child ended with an error');
    assert.ok(!namespaces().includes(name), `${name} is still there after: ${ending}`);
  }
});
