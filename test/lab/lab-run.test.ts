// One --quick run of E1–E5 through the CLI (as a user runs it), then: the direction of each effect,
// the host left as it was, a dead run's namespaces removed, and the HTML report drawn by Chromium.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { type HostSnapshot, labNamespacesOf, snapshotHost, sysctlChanges } from './host-snapshot.ts';
import type { LabReport } from '../../src/lab/runner.ts';
import { assertFitsTerminal } from './fits.ts';
import { launchBrowser } from '../helpers/browser.ts';

const root = process.getuid?.() === 0;
const skip = !root && 'needs root: the lab runs in network namespaces';

type Row = Record<string, string | number | boolean | null>;
interface Exp {
  id: string;
  title: string;
  rows: Row[];
  conclusion: string;
  skipped: string[];
  error?: string;
  charts: unknown[];
}

const dir = mkdtempSync(join(tmpdir(), 'tcplens-lab-test-'));
const reportPath = join(dir, 'report.html');
let result: CliResult;
let doc: { staleRemoved: string[]; experiments: Exp[] };
let snapBefore: HostSnapshot;
let snapAfter: HostSnapshot;
let stale: string;

function exp(id: string): Exp {
  const e = doc.experiments.find((x) => x.id === id);
  assert.ok(e, `${id} in the output`);
  assert.equal(e.error, undefined, `${id} failed: ${e.error}`);
  return e;
}

before(async () => {
  if (!root) return;
  // A namespace as a killed run leaves it: named after a pid that no longer exists.
  const deadPid = spawnSync('true').pid!;
  stale = `tcplens-lab-${deadPid}-zzstale-c`;
  execFileSync('ip', ['netns', 'add', stale]);
  snapBefore = snapshotHost();
  result = await runCli(['lab', 'run', 'E1', 'E2', 'E3', 'E4', 'E5', '--quick', '--json', '--report', reportPath], {
    timeoutMs: 240_000,
  });
  snapAfter = snapshotHost();
  doc = JSON.parse(result.stdout);
});

after(() => {
  if (stale) spawnSync('ip', ['netns', 'del', stale], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

test('lab run --quick --json prints the documented shape for E1–E5', { skip }, () => {
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    doc.experiments.map((e) => e.id),
    ['E1', 'E2', 'E3', 'E4', 'E5'],
  );
  for (const e of doc.experiments) {
    assert.equal(typeof e.title, 'string');
    assert.ok(e.rows.length > 0, `${e.id} has rows`);
    assert.ok(e.conclusion.length > 40, `${e.id} has a conclusion`);
    assert.ok(e.charts.length > 0, `${e.id} has charts`);
    assert.deepEqual(e.skipped, [], `${e.id} skipped nothing as root`);
  }
});

test('the text tables of E1–E5 fit 100 columns: E4 and E5, once 129 and 128, too; no row of mostly "-"', {
  skip,
}, () => {
  for (const e of (doc as unknown as LabReport).experiments) assertFitsTerminal(e);
});

test('E1: close mode leaves at least 100x the TIME_WAIT of keep-alive, and only close mode runs out of 1,000 ports', {
  skip,
}, () => {
  const e = exp('E1');
  const [ka, cl, kaN, clN] = e.rows;
  for (const r of e.rows)
    for (const k of ['mode', 'rps', 'p99Ms', 'timeWaitPeak', 'portsPerSec', 'errors'])
      assert.ok(k in r, `E1 row has ${k}`);
  assert.equal(ka!.mode, 'keepalive');
  assert.equal(cl!.mode, 'close');
  assert.ok(
    Number(cl!.timeWaitPeak) >= 100 * Math.max(1, Number(ka!.timeWaitPeak)),
    `TIME_WAIT close ${cl!.timeWaitPeak} vs keep-alive ${ka!.timeWaitPeak}`,
  );
  assert.ok(Number(cl!.portsPerSec) > Number(ka!.portsPerSec));
  assert.equal(kaN!.portRange, '20000-20999');
  assert.ok(Number(clN!.eaddrnotavail) > 0, `close mode with 1,000 ports: ${JSON.stringify(clN)}`);
  assert.ok(Number(clN!.ok) <= 1000, 'at most one request per port');
  assert.equal(kaN!.eaddrnotavail, 0);
  assert.equal(kaN!.errors, 0);
  assert.match(e.conclusion, /EADDRNOTAVAIL/);
});

test('E2: tw_reuse=1 connects more than 0 once ports run out, fin_timeout leaves TIME_WAIT at 60 s, the first closer holds TIME_WAIT', {
  skip,
}, () => {
  const e = exp('E2');
  const r0 = e.rows.find((r) => r.setting === 'tcp_tw_reuse=0')!;
  const r1 = e.rows.find((r) => r.setting === 'tcp_tw_reuse=1')!;
  const all = JSON.stringify(e.rows);
  assert.ok(Number(r0.eaddrnotavail) > 0, `tw_reuse=0 runs out of its 100 ports: ${all}`);
  assert.ok(Number(r0.ok) <= 100, all);
  assert.ok(Number(r1.ok) > Number(r0.ok), `reuse=1 ${r1.ok} vs reuse=0 ${r0.ok}`);
  const fin = e.rows.filter((r) => r.part === 'tcp_fin_timeout');
  const twShort = fin.find((r) => r.state === 'TIME_WAIT' && r.setting !== 'tcp_fin_timeout=60')!;
  const fw = fin.find((r) => r.state === 'FIN_WAIT2')!;
  const short = Number(String(fw.setting).split('=')[1]);
  assert.equal(twShort.setting, fw.setting);
  assert.ok(short < 60);
  // The kernel's own timer: about 60 s for TIME_WAIT whatever tcp_fin_timeout says, fin_timeout for an orphaned FIN_WAIT_2.
  assert.ok(Number(twShort.timerS) > 50 && Number(twShort.timerS) <= 60, `TIME_WAIT timer: ${all}`);
  assert.ok(Number(fw.timerS) <= short, `FIN_WAIT2 timer: ${all}`);
  assert.ok(
    Number(twShort.stillAfterS) > short && Number(twShort.stillThere) >= Number(twShort.sockets),
    `all still in TIME_WAIT past fin_timeout: ${all}`,
  );
  // --quick does not wait TIME_WAIT's 60 s: not "gone after 0 s", but not watched.
  assert.equal(twShort.goneAfterS, null);
  // A TIME_WAIT missing from the count is one the server's RST ended (its namespace's Tcp.OutRsts).
  for (const r of [...fin.filter((x) => x.state === 'TIME_WAIT')]) {
    assert.ok(
      Number(r.sockets) <= Number(r.connections) && Number(r.sockets) >= Number(r.connections) - Number(r.peerRsts),
      `TIME_WAIT count vs connections and RSTs: ${JSON.stringify(r)}`,
    );
  }
  const cf = e.rows.find((r) => r.setting === 'client closes first')!;
  const sf = e.rows.find((r) => r.setting === 'server closes first')!;
  assert.ok(Number(cf.clientTimeWait) > 0 && Number(cf.serverTimeWait) === 0, JSON.stringify(cf));
  assert.ok(Number(sf.serverTimeWait) > 0 && Number(sf.clientTimeWait) === 0, JSON.stringify(sf));
  assert.ok(Number(cf.clientTimeWait) >= Number(cf.connections) - Number(cf.peerRsts), JSON.stringify(cf));
});

test('E3: a burst against a slow acceptor overflows the accept queue and connects in SYN-retransmit steps', {
  skip,
}, () => {
  const e = exp('E3');
  assert.deepEqual(
    e.rows.map((r) => r.syncookies),
    [1, 0],
  );
  for (const r of e.rows) {
    assert.ok(Number(r.listenOverflows) > 0, `ListenOverflows ${r.listenOverflows}`);
    const stepped = Number(r.near1s) + Number(r.near2s) + Number(r.near3s);
    assert.ok(stepped > 0, `connects at a SYN-retransmit step: ${JSON.stringify(r)}`);
    assert.ok(Number(r.synRetrans) > 0);
  }
  const [on, off] = e.rows as [Row, Row];
  assert.ok(Number(on.cookiesSent) >= 0 && Number(off.cookiesSent) === 0, 'no cookies when they are off');
  assert.ok(
    Number(off.reqQFullDrop) >= Number(on.reqQFullDrop),
    'SYNs dropped on a full SYN queue only without cookies',
  );
  for (const r of e.rows) {
    assert.equal(Number(r.connected) + Number(r.notConnected), Number(r.connections), 'each client tried once');
    assert.ok(Number(r.served) > 0 && Number(r.served) <= Number(r.connected), JSON.stringify(r));
  }
  // With cookies a client's connect() returns before the slow server has room for it: connected is not served.
  assert.ok(Number(on.connected) > Number(on.served), `cookies: connected ${on.connected}, served ${on.served}`);
  assert.match(
    e.conclusion,
    new RegExp(`\\(${on.served} with cookies, ${off.served} without\\)|\\(${on.served} vs ${off.served}\\)`),
  );
});

test('E4: an abort is seen at once as ECONNRESET; a vanished peer only by tuned keepalive', { skip }, () => {
  const e = exp('E4');
  const abort = e.rows[0]!;
  assert.equal(abort.detected, 'ECONNRESET');
  assert.ok(Number(abort.detectedAfterMs) < 1000, `abort seen after ${abort.detectedAfterMs} ms`);
  const v = e.rows.slice(1);
  const byClient = (c: string) => v.find((r) => r.client === c)!;
  assert.equal(byClient('keepalive off').detectedAfterMs, null);
  // The abort's row names the client, not the server's action.
  assert.equal(abort.client, 'keepalive off');
  assert.equal(byClient('kernel defaults').detectedAfterMs, null);
  const sys = byClient('sysctls 1 s/1 s/3');
  const node = byClient('setKeepAlive 1 s');
  assert.equal(sys.detected, 'ETIMEDOUT');
  // 1 s idle + 3 probes 1 s apart.
  assert.ok(
    Number(sys.detectedAfterMs) >= 2000 && Number(sys.detectedAfterMs) < 7000,
    `sysctl-tuned ${sys.detectedAfterMs} ms`,
  );
  // --quick does not wait for libuv's 10 probes; the kernel's timer shows its 1 s idle all the same.
  assert.equal(node.detected, 'not waited for (--quick)');
  assert.equal(node.detectedAfterMs, null);
  assert.ok(
    Number(node.keepaliveTimerS) > 0 && Number(node.keepaliveTimerS) <= 1,
    `libuv's keepalive timer ${node.keepaliveTimerS} s`,
  );
  assert.match(e.conclusion, /about 11 s after the last packet/);
});

test('E5: the slow crowd is cut at headersTimeout with 408s, and only the long-idle client loses requests to the idle race', {
  skip,
}, () => {
  const e = exp('E5');
  const slow = e.rows.filter((r) => String(r.part).startsWith('slowloris'));
  const race = e.rows.filter((r) => r.part === 'idle race');
  assert.equal(slow.length, 3);
  assert.equal(race.length, 3);

  const [alone, beside, crowd] = slow;
  for (const r of [alone!, beside!]) {
    assert.ok((r.requests as number) > 50, `normal requests were sent: ${r.requests}`);
    assert.equal(r.errors, 0, 'normal requests do not fail beside the crowd');
    assert.ok((r.p50Ms as number) > 0 && (r.p99Ms as number) >= (r.p50Ms as number));
  }
  // Node's own server is the oracle: it answers 408 when headersTimeout strikes, and not before.
  assert.ok((crowd!.connections as number) > 0);
  assert.equal(crowd!.closedByServer, crowd!.connections, 'every slow connection was closed by the server');
  assert.equal(crowd!.got408, crowd!.connections, 'each with a 408');
  assert.ok(
    (crowd!.closedAfterMsP50 as number) >= 1000,
    `not before headersTimeout (p50 ${crowd!.closedAfterMsP50} ms)`,
  );
  // Soon after it: the server's check every 250 ms, and whatever held up the server or this client
  // meanwhile, which the normal requests sent beside the crowd, to the same server from the same
  // client, measured in the same seconds.
  const heldMs = beside!.p99Ms as number;
  assert.ok(
    (crowd!.closedAfterMsMax as number) < 1000 + 250 + 750 + heldMs,
    `soon after it (max ${crowd!.closedAfterMsMax} ms; normal requests beside it p99 ${heldMs} ms)`,
  );

  const [blind, shortIdle, pool] = race;
  assert.ok(
    (blind!.requests as number) > 0 && blind!.requests === shortIdle!.requests && blind!.requests === pool!.requests,
    'same schedule for all three',
  );
  assert.ok((blind!.errors as number) > 0, `the race is reproduced: ${blind!.errors} errors`);
  assert.ok((blind!.reused as number) >= (blind!.errors as number), 'only on reused connections');
  assert.equal(shortIdle!.errors, 0);
  assert.equal(pool!.errors, 0);

  assert.match(e.conclusion, new RegExp(`failed ${blind!.errors} of ${blind!.requests}`));
  assert.ok(
    e.charts.length >= 3 &&
      (e.charts as { series: { points: unknown[] }[] }[]).every((c) => c.series.some((s) => s.points.length > 0)),
  );
});

test('a run leaves every net.* sysctl and the namespace list of the host as it found them', { skip }, () => {
  assert.deepEqual(sysctlChanges(snapBefore, snapAfter), []);
  assert.deepEqual(
    snapAfter.namespaces.filter(
      (n) => n.startsWith('tcplens-lab-') && !snapBefore.namespaces.includes(n) && !isAlive(n),
    ),
    [],
  );
  // In CI nothing else runs beside this test: the list must be exactly the same, less the stale one.
  if (process.env.CI)
    assert.deepEqual(
      snapAfter.namespaces,
      snapBefore.namespaces.filter((n) => n !== stale),
    );
});

function isAlive(ns: string): boolean {
  const pid = Number(/^tcplens-lab-(\d+)-/.exec(ns)?.[1]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a run removes the namespaces a killed earlier run left behind', { skip }, () => {
  assert.ok(doc.staleRemoved.includes(stale), `staleRemoved: ${doc.staleRemoved.join(', ')}`);
  assert.ok(!snapAfter.namespaces.includes(stale));
  assert.deepEqual(labNamespacesOf(Number(stale.split('-')[2]), snapAfter), []);
});

test('the HTML report opens in headless Chromium and every chart draws', { skip }, async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    // Nothing may be fetched: the report is self-contained.
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`file://${reportPath}`);
    // Page code as text: it runs in the browser, and this file is typed for Node (no DOM library).
    await page.waitForFunction(
      `document.querySelectorAll('.chart canvas').length === document.querySelectorAll('.chart').length`,
    );
    const charts = (await page.evaluate(`[...document.querySelectorAll('.chart')].map((el) => {
      const c = el.querySelector('canvas');
      if (!c) return { id: el.id, width: 0, height: 0, drawn: 0 };
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let drawn = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) drawn++;
      return { id: el.id, width: c.width, height: c.height, drawn };
    })`)) as { id: string; width: number; height: number; drawn: number }[];
    const expected = doc.experiments.reduce((n, e) => n + e.charts.length, 0);
    assert.equal(charts.length, expected);
    for (const c of charts) {
      assert.ok(c.width > 0 && c.height > 0, `${c.id} has a size`);
      assert.ok(c.drawn > 1000, `${c.id} has drawn pixels (${c.drawn})`);
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    // Every table fits the page at 1280 px: none needs its horizontal scroll bar.
    const overflowing = (await page.evaluate(
      `[...document.querySelectorAll('.scroll')].filter((d) => d.scrollWidth > d.clientWidth + 1).map((d) => d.closest('section').id + ': ' + d.scrollWidth + ' > ' + d.clientWidth)`,
    )) as string[];
    assert.deepEqual(overflowing, []);
    const text = await page.textContent('body');
    for (const e of doc.experiments)
      assert.ok(text!.includes(e.conclusion.slice(0, 60)), `${e.id}'s conclusion is in the page`);
    await page.screenshot({ path: '/tmp/tcplens-lab-report.png', fullPage: true });
  } finally {
    await browser.close();
  }
});
