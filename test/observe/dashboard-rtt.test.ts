// The dashboard's RTT panels in a real browser, against ss -tin: idle connections from source
// addresses of the test's own (127.77.0.x on loopback), whose tcp_info stays put while both read it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { startDashboard } from '../../src/observe/dashboard.ts';
import { hasSs, ssInfo, type SsInfo } from '../helpers/ss.ts';
import { ensureWebBuilt, launchBrowser, waitFor } from './dashboard-helpers.ts';

const SERVER = '127.77.0.1';
const CLIENTS: Record<string, number> = { '127.77.0.2': 4, '127.77.0.3': 2, '127.77.0.4': 1 };

const nearestRank = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
const fmtMs = (ms: number) => (ms >= 10 ? ms.toFixed(1) : ms.toFixed(3));
const peerOf = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf(':'));

/** The rows the page should show for the test's peers, from ss: connections, p50, p99, retransmits. */
function expectedRows(rows: SsInfo[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const peers = [...Object.keys(CLIENTS), SERVER];
  for (const peer of peers) {
    const mine = rows.filter((r) => peerOf(r.peer) === peer);
    const rtts = mine.map((r) => r.fields.get('rtt') ?? 0).sort((a, b) => a - b);
    const retrans = mine.reduce((a, r) => a + (r.fields.get('retrans_total') ?? 0), 0);
    out[peer] = [String(mine.length), fmtMs(nearestRank(rtts, 0.5)), fmtMs(nearestRank(rtts, 0.99)), String(retrans)];
  }
  return out;
}

test('RTT by peer on the page equals ss -tin for the same connections, and the quantile band is drawn', {
  skip: !hasSs() && 'needs ss',
}, async () => {
  ensureWebBuilt();
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    s.resume();
  });
  server.listen({ host: SERVER, port: 0 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (const [address, n] of Object.entries(CLIENTS)) {
    for (let i = 0; i < n; i++) {
      const c = connect({ host: SERVER, port, localAddress: address });
      await once(c, 'connect');
      // One exchange each, so that the RTT is a measured one; then they sit idle.
      c.write('x'.repeat(1000));
      clients.push(c);
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  const dashboard = await startDashboard({ port: 0, intervalMs: 500, findingsIntervalMs: 60_000, topN: 1000 });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(dashboard.url);
    const row = async (peer: string) => {
      const cells = page.locator(`#rtt-peers tr[data-key="${peer}"] td`);
      return (await cells.count()) ? (await cells.allTextContents()).slice(1) : undefined;
    };
    await waitFor('the peers of the test on the page', () => row(SERVER), 20_000);
    const filter = ['dst', `${SERVER}`, 'or', 'src', `${SERVER}`];
    let expected: Record<string, string[]> = {};
    let shown: Record<string, string[] | undefined> = {};
    // ss before and after reading the page agree (idle connections), or it is read again.
    for (let i = 0; i < 5; i++) {
      const before = expectedRows(ssInfo(filter));
      await new Promise((r) => setTimeout(r, 1200));
      shown = Object.fromEntries(
        await Promise.all([...Object.keys(CLIENTS), SERVER].map(async (p) => [p, await row(p)] as const)),
      );
      expected = expectedRows(ssInfo(filter));
      if (JSON.stringify(before) === JSON.stringify(expected)) break;
    }
    assert.equal(expected[SERVER]![0], '7', 'ss sees the 7 client sockets');
    assert.deepEqual(shown, expected);
    assert.ok(Number(await page.getAttribute('#chart-rtt', 'data-points')) >= 2, 'the band has points');
    assert.match((await page.textContent('#rtt-summary')) ?? '', /connections · p50 [\d.]+ · p99 [\d.]+ ms/);
    assert.equal(await page.isHidden('#rtt-why'), true);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await dashboard.close();
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
});
