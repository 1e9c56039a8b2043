// The dashboard's panel of drops and resets by reason, in a real browser: fed by a live trace of
// resets to a closed port in a namespace (tcpdump counts them too), and what it says without one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Page } from 'playwright-core';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';
import { startDashboard, type DashboardHandle } from '../../src/observe/dashboard.ts';
import { startReasonTally, type ReasonTally } from '../../src/trace/reason-tally.ts';
import { has, tcpdump } from '../trace/live.ts';
import { ensureWebBuilt, launchBrowser, waitFor, type Browser } from './dashboard-helpers.ts';

const isRoot = process.getuid?.() === 0;
const skipTrace = !isRoot
  ? 'needs root'
  : (['bpftrace', 'tcpdump', 'python3'] as const).find((c) => !has(c))
    ? 'needs bpftrace, tcpdump and python3'
    : false;
const CONNECTS = 30;

async function connectToClosed(ns: Netns, port: number, n: number): Promise<void> {
  // Spread over a few seconds, so that the chart has rates in more than one sample.
  const script = `import socket,time
for i in range(${n}):
    try: socket.create_connection(('127.0.0.1',${port}),timeout=2)
    except ConnectionRefusedError: pass
    time.sleep(0.1)`;
  // Not spawnSync: the dashboard samples in this process meanwhile.
  const child = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 30_000,
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
}

async function totalOf(page: Page, key: string): Promise<string | null> {
  const cell = page.locator(`#reasons-totals tr[data-key="${key}"] td.num`);
  return (await cell.count()) ? cell.textContent() : null;
}

describe('dashboard: drops and resets by reason', () => {
  let browser: Browser;
  const errors: string[] = [];
  before(async () => {
    ensureWebBuilt();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  async function open(d: DashboardHandle): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(d.url);
    return page;
  }

  test("a live trace: the totals equal tcpdump's RSTs, and the chart draws the reason over time", {
    skip: skipTrace,
  }, async () => {
    const ns = createNetns('tcplens-test-dashebpf');
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    let tally: ReasonTally | undefined;
    let dashboard: DashboardHandle | undefined;
    let dump: Awaited<ReturnType<typeof tcpdump>> | undefined;
    try {
      tally = await startReasonTally({ ports: [port] });
      dashboard = await startDashboard({
        port: 0,
        intervalMs: 500,
        findingsIntervalMs: 60_000,
        ebpf: { reasons: tally },
      });
      const page = await open(dashboard);
      await waitFor(
        'the first frame',
        async () => ((await page.getAttribute('#chart-reasons', 'data-points')) ? true : undefined),
        15_000,
      );
      assert.equal(await page.isHidden('#reasons-why'), true, 'tracing: no excuse shown');
      dump = await tcpdump(`tcp[tcpflags] & tcp-rst != 0 and src port ${port}`, ns.exec);
      await connectToClosed(ns, port, CONNECTS);
      const rsts = await dump.stop();
      assert.equal(rsts, CONNECTS, 'tcpdump: one RST per refused connect');
      const shown = await waitFor(
        "the totals to reach tcpdump's count",
        async () => {
          const t = await totalOf(page, 'reset sent NO_SOCKET');
          return t === String(rsts) ? t : undefined;
        },
        15_000,
      ).catch(async () => totalOf(page, 'reset sent NO_SOCKET'));
      assert.equal(shown, String(rsts), (await page.textContent('#reasons-totals')) ?? '');
      assert.equal(await totalOf(page, 'reset received'), String(rsts), 'each RST reached its client');
      const legend = await page.$$eval('#chart-reasons .u-legend .u-series th', (ths) =>
        ths.map((t) => t.textContent?.trim()),
      );
      assert.ok(legend.includes('reset sent NO_SOCKET'), `legend: ${JSON.stringify(legend)}`);
      assert.ok(
        Number(await page.getAttribute('#chart-reasons', 'data-points')) >= 6,
        'points over time: the resets took 3 s, sampled every 0.5 s',
      );
      await page.screenshot({ path: '/tmp/tcplens-dashboard-reasons.png', fullPage: true });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await dump?.stop();
      await dashboard?.close();
      await tally?.close();
      ns.close();
    }
  });

  test('without a trace the panel says why: the reason given, or how to get one', async () => {
    const why = '--ebpf: tracing needs root (sudo tcplens …)';
    for (const [ebpf, expected] of [
      [{ why }, why],
      [undefined, /start the dashboard with --ebpf, as root with bpftrace installed/],
    ] as const) {
      const dashboard = await startDashboard({ port: 0, intervalMs: 500, findingsIntervalMs: 60_000, ebpf });
      try {
        const page = await open(dashboard);
        const text = await waitFor(
          'the note',
          async () => ((await page.isVisible('#reasons-why')) ? page.textContent('#reasons-why') : undefined),
          15_000,
        );
        if (typeof expected === 'string') assert.equal(text, expected);
        else assert.match(text ?? '', expected);
        assert.equal(await page.isHidden('#chart-reasons'), true);
        assert.match((await page.textContent('#reasons-totals')) ?? '', /Nothing traced/);
        await page.close();
      } finally {
        await dashboard.close();
      }
    }
    assert.deepEqual(errors, []);
  });
});
