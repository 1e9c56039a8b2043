// The dashboard in a real browser (Debian's chromium through playwright-core): the page, its live
// numbers against sockets made here and ss, a finding reproduced here, the bench viewer, the
// stream's lost/reconnected state, and the Host-header guard.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { Page } from 'playwright-core';
import { startDashboard, type DashboardHandle } from '../../src/observe/dashboard.ts';
import type { BenchResult } from '../../src/model/bench-result.ts';
import type { BenchView } from '../../src/observe/dashboard-protocol.ts';
import { runCli } from '../helpers/cli.ts';
import { httpServer } from '../helpers/servers.ts';
import { ssSockets } from '../helpers/ss.ts';
import {
  clientTimeWait,
  ensureWebBuilt,
  fullListener,
  launchBrowser,
  waitFor,
  type Browser,
} from './dashboard-helpers.ts';

const SCREENSHOT = '/tmp/tcplens-dashboard.png';

function get(
  port: number,
  path: string,
  host: string,
  method = 'GET',
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('tcplens dashboard', () => {
  let dashboard: DashboardHandle;
  let browser: Browser;
  let page: Page;
  let bench: { runs: BenchResult[] };
  const errors: string[] = [];
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    ensureWebBuilt();
    const target = await httpServer((_req, res) => res.end('ok'));
    cleanups.push(() => target.close());
    // Each part is closed by after() as soon as it has started, and all three settle before any
    // failure is thrown: a browser left open by a failed bench would keep this process alive.
    const [d, b, f] = await Promise.allSettled([
      startDashboard({ port: 0, intervalMs: 500, findingsIntervalMs: 2000 }).then((h) => {
        cleanups.push(() => h.close());
        return h;
      }),
      launchBrowser().then((h) => {
        cleanups.push(() => h.close());
        return h;
      }),
      // A real `bench --json` file, made while the browser starts. A count (capped in time), not
      // only a duration: on a busy machine a short timed run may complete no request at all. The
      // cap is generous: the target shares this process's event loop with the dashboard's scans.
      runCli(['bench', target.url, '-c', '2', '-n', '300', '-d', '10', '--compare', 'keepalive,close', '--json'], {
        timeoutMs: 30_000,
      }).then((r) => {
        assert.equal(r.code, 0, r.stderr);
        const file = JSON.parse(r.stdout) as { runs: BenchResult[] };
        // The viewer draws what the file holds: a run whose histogram is empty would be bench's bug.
        for (const run of file.runs)
          assert.ok(
            run.requests.ok === 0 || run.latencyMs.max > 0,
            `bench --json: ${run.mode} has ${run.requests.ok} responses but an empty latency histogram`,
          );
        return file;
      }),
    ]);
    for (const r of [d, b, f]) if (r.status === 'rejected') throw r.reason;
    dashboard = (d as PromiseFulfilledResult<DashboardHandle>).value;
    browser = (b as PromiseFulfilledResult<Browser>).value;
    bench = (f as PromiseFulfilledResult<{ runs: BenchResult[] }>).value;
    page = await browser.context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        errors.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`);
    });
  });

  after(async () => {
    await page?.close().catch(() => {});
    // A part that does not close within 15 s fails the suite by name instead of holding it open.
    for (const c of cleanups.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`dashboard test: ${String(c)} did not close within 15 s`)), 15_000);
      });
      await Promise.race([Promise.resolve().then(c), late]).finally(() => clearTimeout(timer));
    }
  });

  test('serves a page that loads with no console errors and goes live', async () => {
    await page.goto(dashboard.url);
    await page.waitForSelector('#stream[data-state="live"]', { timeout: 8000 });
    assert.match((await page.textContent('#host')) ?? '', /Linux/);
    assert.deepEqual(errors, []);
  });

  test('charts receive a point per sample', async () => {
    const points = async () => Number(await page.getAttribute('#chart-states', 'data-points'));
    const first = await waitFor('two points', async () => ((await points()) >= 2 ? points() : undefined));
    const later = await waitFor('more points', async () => {
      const n = await points();
      return n > first ? n : undefined;
    });
    assert.ok(later > first);
    // Every chart drew a canvas, and the rate charts have points too (rates start at the second sample).
    for (const id of ['chart-states', 'chart-ports', 'chart-listen', 'chart-resets']) {
      assert.equal(await page.locator(`#${id} canvas`).count(), 1, id);
      assert.ok(Number(await page.getAttribute(`#${id}`, 'data-points')) >= 2, id);
    }
  });

  test('TIME_WAIT sockets made during the test show up in the numbers on the page, as ss counts them', async () => {
    const tw = await clientTimeWait(300);
    cleanups.push(() => tw.close());
    // The oracle: ss's TIME_WAIT sockets towards the test's port (they last 60 s, so they stay put).
    const ssCount = ssSockets().filter((s) => s.state === 'TIME_WAIT' && s.peer === `127.0.0.1:${tw.port}`).length;
    assert.ok(ssCount >= 300, `ss sees ${ssCount} TIME_WAIT towards port ${tw.port}`);
    // A sample taken after ss looked (one taken during the loop would show fewer).
    const after = Date.now() / 1000;
    await waitFor('a sample newer than ss', async () =>
      Number(await page.getAttribute('body', 'data-last-sample')) > after ? true : undefined,
    );
    const text = await page.locator(`#tw-remote tr[data-key="${tw.port}"] td.num`).first().textContent();
    assert.equal(Number(text?.replace(/,/g, '')), ssCount);
    const total = Number((await page.textContent('.stat[data-stat="time-wait"] .v'))!.replace(/,/g, ''));
    assert.ok(total >= ssCount, `TIME_WAIT card ${total} < ${ssCount}`);
    // The destination table counts the same sockets as ephemeral ports held towards 127.0.0.1:port.
    const dest = await waitFor(
      'the destination row',
      async () => (await page.locator(`#destinations tr[data-key="127.0.0.1:${tw.port}"]`).count()) > 0 || undefined,
    );
    assert.ok(dest);
  });

  test('an accept-queue overflow made here appears among the findings with its listener', async () => {
    const full = await fullListener(1, 5);
    cleanups.push(() => full.close());
    const finding = page.locator('article.finding[data-id="accept-queue-overflow"]');
    await finding.waitFor({ timeout: 10_000 });
    await waitFor(
      'the listener in the evidence',
      async () => ((await finding.textContent())?.includes(`127.0.0.1:${full.port}`) ? true : undefined),
      10_000,
    );
    // The listeners table shows it full: queue 2 of 1 (backlog + 1), a red bar.
    const row = page.locator(`#listeners tr[data-port="${full.port}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /2 \/ 1/);
    assert.equal(await row.locator('.bar.high').count(), 1);
  });

  test('the bench viewer draws a bench --json file decoded by the server', async () => {
    await page.setInputFiles('#bench-file', {
      name: 'run.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(bench)),
    });
    const rows = page.locator('#bench-summary tr[data-run]');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    for (const [i, run] of bench.runs.entries()) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      assert.equal(cells[0], run.mode === 'keepalive' ? 'keep-alive' : 'close');
      assert.equal(cells[2], run.requests.total.toLocaleString('en-US'));
      assert.equal(cells[6], run.latencyMs.p99.toLocaleString('en-US', { maximumFractionDigits: 2 }));
    }
    for (const id of ['bench-rps', 'bench-latency', 'bench-curve', 'bench-tw']) {
      assert.ok(
        Number(await page.getAttribute(`#${id}`, 'data-points')) > 0,
        `${id}: ${await page.getAttribute(`#${id}`, 'data-points')} ${await page.textContent('#bench-message')}`,
      );
    }
    // The server decodes the HDR histogram: its median is the run's own p50 (within HDR's precision).
    const decoded = await get(
      dashboard.port,
      '/api/bench',
      `127.0.0.1:${dashboard.port}`,
      'POST',
      { 'content-type': 'application/json' },
      JSON.stringify(bench),
    );
    const view = JSON.parse(decoded.body) as BenchView;
    for (const [i, run] of bench.runs.entries()) {
      const curve = view.runs[i]!.curve;
      const median = curve.y[curve.x.indexOf(2)]!;
      assert.ok(
        Math.abs(median - run.latencyMs.p50) <= run.latencyMs.p50 * 0.01 + 0.01,
        `${run.mode}: ${median} vs p50 ${run.latencyMs.p50}`,
      );
    }
    // A file that is not a bench result is refused with a message, not a broken page.
    await page.setInputFiles('#bench-file', {
      name: 'x.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"a":1}'),
    });
    await page.waitForSelector('#bench-message.error');
    assert.match((await page.textContent('#bench-message')) ?? '', /not a tcplens bench result/);
    errors.splice(0, errors.length, ...errors.filter((e) => !e.includes('/api/bench'))); // the 400 was asked for
    // Back to the good file for the screenshot.
    await page.setInputFiles('#bench-file', {
      name: 'run.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(bench)),
    });
    await page.waitForSelector('#bench-result:not([hidden])');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
  });

  test('refuses a Host header that is not its own address, and anything but reading', async () => {
    const port = dashboard.port;
    assert.equal((await get(port, '/', `127.0.0.1:${port}`)).status, 200);
    assert.equal((await get(port, '/', `localhost:${port}`)).status, 200);
    // DNS rebinding: attacker.example resolving to 127.0.0.1 sends its own name.
    const rebound = await get(port, '/api/frame', `attacker.example:${port}`);
    assert.equal(rebound.status, 403);
    assert.doesNotMatch(rebound.body, /byState/);
    assert.equal((await get(port, '/', `127.0.0.1:${port + 1}`)).status, 403);
    assert.equal((await get(port, '/api/frame', `127.0.0.1:${port}`, 'DELETE')).status, 405);
    assert.equal(
      (
        await get(port, '/api/bench', `127.0.0.1:${port}`, 'POST', {
          'content-type': 'application/x-www-form-urlencoded',
        })
      ).status,
      415,
    );
    assert.equal((await get(port, '/../package.json', `127.0.0.1:${port}`)).status, 404);
  });

  test('shows the stream as lost when the server stops, and live again when it is back', async () => {
    const port = dashboard.port;
    await dashboard.close();
    await page.waitForSelector('#stream[data-state="lost"]', { timeout: 8000 });
    assert.match((await page.textContent('#stream')) ?? '', /stream lost at .* reconnecting/);
    assert.equal(await page.locator('body.stale').count(), 1);
    const again = await startDashboard({ port, intervalMs: 500, findingsIntervalMs: 2000 });
    cleanups.push(() => again.close());
    dashboard = again;
    await page.waitForSelector('#stream[data-state="live"]', { timeout: 8000 });
    assert.match((await page.textContent('#stream')) ?? '', /live/);
    assert.equal(await page.locator('body.stale').count(), 0);
    // And the new server's samples reach the charts.
    const before = Number(await page.getAttribute('body', 'data-last-sample'));
    await waitFor('a sample from the new server', async () =>
      Number(await page.getAttribute('body', 'data-last-sample')) > before ? true : undefined,
    );
  });
});
