// Ctrl-C in the middle of --compare and during warm-up: the output keeps its shape and says what was not measured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { interruptCli } from '../helpers/cli.ts';

async function counting(): Promise<{ url: string; count(): number; close(): void }> {
  let n = 0;
  const server = createServer((_q, s) => {
    n++;
    s.end('x');
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    count: () => n,
    close: () => server.close(),
  };
}

test('Ctrl-C during --compare keeps the compare shape: {"runs":[…]} with the missing mode named, and the side-by-side table', async () => {
  const server = await counting();
  try {
    const json = await interruptCli(
      ['bench', server.url, '--compare', 'keepalive,close', '-d', '30', '-c', '2', '--json', '--no-kernel'],
      server,
    );
    assert.equal(json.code, 130);
    const r = JSON.parse(json.stdout);
    assert.ok(Array.isArray(r.runs), json.stdout.slice(0, 200));
    assert.equal(r.runs.length, 1);
    assert.equal(r.runs[0].mode, 'keepalive');
    assert.equal(r.runs[0].interrupted, true);
    assert.deepEqual(r.missing, ['close']);
    const text = await interruptCli(
      ['bench', server.url, '--compare', 'keepalive,close', '-d', '30', '-c', '2', '--no-kernel'],
      server,
    );
    assert.equal(text.code, 130);
    assert.match(text.stdout, /\nmode\s+req\/s\s+mean\s+p99/, text.stdout);
    assert.match(text.stdout, /\nclose: not run \(interrupted before it began\)\n/, text.stdout);
    assert.match(text.stdout, /\nkeep-alive: interrupted after /, text.stdout);
  } finally {
    server.close();
  }
});

test('Ctrl-C during warm-up says in one line that nothing was measured, exit 130, instead of a table of zeros', async () => {
  const server = await counting();
  try {
    const text = await interruptCli(['bench', server.url, '--warmup', '20', '-d', '5', '-c', '2'], server);
    assert.equal(text.code, 130);
    const lines = text.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, text.stdout);
    assert.match(lines[0]!, /interrupted during the 20 s warm-up \(Ctrl-C\): nothing was measured$/);
    const json = await interruptCli(['bench', server.url, '--warmup', '20', '-d', '5', '-c', '2', '--json'], server);
    assert.equal(json.code, 130);
    const r = JSON.parse(json.stdout);
    assert.equal(r.interruptedInWarmup, true);
    assert.deepEqual(r.verdict, []);
  } finally {
    server.close();
  }
});
