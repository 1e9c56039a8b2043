// `tcplens dashboard` as a user runs it: where it listens, --open, Ctrl-C, and one-line errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import { ensureWebBuilt, waitFor } from './dashboard-helpers.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

test('serves on the address asked, opens $BROWSER on its URL, and stops cleanly on Ctrl-C', async () => {
  ensureWebBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-dashboard-'));
  try {
    // A stand-in browser that writes down what it was asked to open.
    const browser = join(dir, 'browser');
    writeFileSync(browser, `#!/bin/sh\necho "$1" > ${join(dir, 'opened')}\n`);
    chmodSync(browser, 0o755);
    const child = spawn(process.execPath, [MAIN, 'dashboard', '--listen', '127.0.0.1:0', '--open', '--json'], {
      env: { ...process.env, BROWSER: browser },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const info = JSON.parse(line) as { url: string; host: string; port: number; allowedHosts: string[] };
    assert.equal(info.host, '127.0.0.1');
    assert.equal(info.url, `http://127.0.0.1:${info.port}/`);
    assert.deepEqual(info.allowedHosts.sort(), [`127.0.0.1:${info.port}`, `localhost:${info.port}`]);
    const opened = await waitFor('the browser to be opened', () =>
      existsSync(join(dir, 'opened')) ? readFileSync(join(dir, 'opened'), 'utf8').trim() : undefined,
    );
    assert.equal(opened, info.url);
    const page = await fetch(info.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /tcplens dashboard/);
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a port in use is a one-line error (bad --listen values: see dashboard-parts)', async () => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  try {
    const port = (taken.address() as { port: number }).port;
    const inUse = await runCli(['dashboard', '--listen', `127.0.0.1:${port}`]);
    assert.equal(inUse.code, 2, inUse.stderr);
    assert.ok(isOneCleanLine(inUse.stderr), inUse.stderr);
    assert.match(inUse.stderr, /in use/);
  } finally {
    taken.close();
  }
});
