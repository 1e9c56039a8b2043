// What the costliest files the upload limits let through cost the dashboard, against the largest
// real file (a --compare of two day-long runs), each measured in a fresh dashboard process: the
// longest its event loop stalls (seen by a client polling it) and its peak memory growth (VmHWM).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { UPLOAD_LIMITS, MAX_TIMELINE_POINTS } from '../../src/observe/dashboard-bench.ts';
import { ensureWebBuilt, largestRealFile, postBench, realRun } from './dashboard-helpers.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function getMs(port: number, path: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      res.resume().on('end', () => resolve(performance.now() - t0));
    })
      .on('error', reject)
      .end();
  });
}

const peakRssBytes = (pid: number) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

interface Cost {
  status: number;
  error: string;
  stallMs: number;
  growthBytes: number;
}

/** POST `body` to a fresh dashboard and measure what taking it cost. */
async function cost(body: Buffer): Promise<Cost> {
  const child = spawn(process.execPath, [MAIN, 'dashboard', '--listen', '127.0.0.1:0', '--interval', '60', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const { port } = JSON.parse(line) as { port: number };
    // Warm: the first sample taken and the routes run once, so that only the upload is measured.
    await getMs(port, '/api/frame');
    await postBench(port, '{}');
    const before = peakRssBytes(child.pid!);
    let stallMs = 0;
    let posting = true;
    const polling = (async () => {
      while (posting) {
        stallMs = Math.max(stallMs, await getMs(port, '/api/frame'));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await postBench(port, body);
    posting = false;
    await polling;
    const growthBytes = peakRssBytes(child.pid!) - before;
    return {
      status: r.status,
      error: r.status === 200 ? '' : (JSON.parse(r.body) as { error: string }).error,
      stallMs,
      growthBytes,
    };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Files at the limits, each the costliest of its kind that the scanner lets reach JSON.parse. */
function atTheLimits(): [string, Buffer][] {
  const L = UPLOAD_LIMITS;
  const keys = `{${Array.from({ length: L.maxObjectMembers }, (_, i) => `"k${i}":0`).join(',')}}`;
  const objects = Math.floor(L.maxValues / (L.maxObjectMembers + 1));
  const numbers = `[${'0,'.repeat(MAX_TIMELINE_POINTS - 1)}0]`;
  const arrays = Math.floor(L.maxValues / MAX_TIMELINE_POINTS) - 1;
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  return [
    [
      'empty objects',
      Buffer.from(
        `{"runs":[{"timeline":[${'{},'.repeat(MAX_TIMELINE_POINTS - 1)}{}]},{"timeline":[${'{},'.repeat(MAX_TIMELINE_POINTS - 1)}{}]}]}`,
      ),
    ],
    ['numbers', Buffer.from(`{${Array.from({ length: arrays }, (_, i) => `"a${i}":${numbers}`).join(',')}}`)],
    ['one long string', Buffer.from(`{"tool":"tcplens","target":"${'x'.repeat(L.maxKeptBytes - 100)}"}`)],
    [
      'escapes',
      Buffer.from(`{"tool":"tcplens","target":"${'\\u4e00'.repeat(Math.floor((L.maxKeptBytes - 100) / 6))}"}`),
    ],
    ['wide objects', Buffer.from(`[${Array.from({ length: objects }, () => keys).join(',')}]`)],
    [
      'deep arrays',
      Buffer.from(
        `[${Array.from({ length: Math.floor(L.maxContainers / L.maxDepth) - 1 }, () => nest(L.maxDepth - 1)).join(',')}]`,
      ),
    ],
  ];
}

test('the costliest files the limits let through stall the dashboard and grow its memory no more than 3x the largest real file', async (t) => {
  ensureWebBuilt();
  const run = await realRun();
  const realFile = largestRealFile(run);
  const real = await cost(realFile);
  assert.equal(real.status, 200, real.error);
  const costs: [string, Cost][] = [];
  for (const [name, body] of atTheLimits()) {
    const c = await cost(body);
    t.diagnostic(
      `${name} (${(body.length / 2 ** 20).toFixed(1)} MiB): ${c.status}, stall ${c.stallMs.toFixed(0)} ms, memory +${(c.growthBytes / 2 ** 20).toFixed(0)} MiB: ${c.error.slice(0, 80)}`,
    );
    // Let through: it reached JSON.parse (a 400 from the checks after it), not refused by a limit.
    assert.equal(c.status, 400, `${name}: ${c.error}`);
    costs.push([name, c]);
  }
  // The real file once more, last: on a shared machine the load drifts, and the larger of its two
  // measurements is the fair reference for files measured between them.
  const again = await cost(realFile);
  const stallMs = Math.max(real.stallMs, again.stallMs);
  const growthBytes = Math.max(real.growthBytes, again.growthBytes);
  t.diagnostic(
    `largest real file: stall ${real.stallMs.toFixed(0)} and ${again.stallMs.toFixed(0)} ms, memory +${(real.growthBytes / 2 ** 20).toFixed(0)} and +${(again.growthBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  for (const [name, c] of costs) {
    assert.ok(
      c.stallMs <= 3 * stallMs,
      `${name}: stalled ${c.stallMs.toFixed(0)} ms, the largest real file ${stallMs.toFixed(0)} ms`,
    );
    assert.ok(
      c.growthBytes <= 3 * growthBytes,
      `${name}: +${c.growthBytes >> 20} MiB, the largest real file +${growthBytes >> 20} MiB`,
    );
  }
});
