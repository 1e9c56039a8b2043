// The dashboard's parts that need no server: the Host-header guard (DNS rebinding), the counter
// rates it draws, --listen, and the page's files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { hostGuard, parseHostHeader } from '../../src/observe/dashboard-guard.ts';
import { counterRates } from '../../src/observe/dashboard-frame.ts';
import type { HostSample } from '../../src/observe/sample.ts';
import { parseListen } from '../../src/cli/options.ts';
import { loadAssets } from '../../src/observe/dashboard-assets.ts';
import { ensureWebBuilt } from './dashboard-helpers.ts';

test('a loopback dashboard answers its own address and localhost on its port, nothing else', () => {
  const g = hostGuard('127.0.0.1', 9470);
  for (const ok of ['127.0.0.1:9470', 'localhost:9470', 'LOCALHOST:9470']) assert.ok(g.allows(ok), ok);
  for (const bad of [
    undefined,
    '',
    'attacker.example:9470',
    'attacker.example',
    '127.0.0.1:9471',
    '127.0.0.1',
    'localhost',
    '127.0.0.2:9470',
    '[::1]:9470',
    'localhost:9470.evil',
    'a b',
  ]) {
    assert.equal(g.allows(bad), false, String(bad));
  }
  const v6 = hostGuard('::1', 9470);
  assert.ok(v6.allows('[::1]:9470'));
  assert.ok(v6.allows('localhost:9470'));
  assert.equal(v6.allows('127.0.0.1:9470'), false);
});

test('port 80 may be left out, as browsers do; names the user allowed are answered too', () => {
  const g = hostGuard('127.0.0.1', 80, ['dash.internal']);
  assert.ok(g.allows('localhost'));
  assert.ok(g.allows('dash.internal'));
  assert.ok(g.allows('dash.internal:80'));
  assert.equal(g.allows('dash.internal:8080'), false);
  assert.deepEqual(parseHostHeader('[::1]:80'), { name: '[::1]', port: 80 });
});

test("a wildcard dashboard answers the addresses of this host's interfaces, not other names", () => {
  const g = hostGuard('0.0.0.0', 9470);
  const v4 = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i?.family === 'IPv4');
  assert.ok(v4.length > 0);
  for (const i of v4) assert.ok(g.allows(`${i!.address}:9470`), i!.address);
  assert.equal(g.allows('attacker.example:9470'), false);
  assert.equal(g.allows('192.0.2.1:9470'), false);
});

test('counter rates are per second, skip sockstat levels, and count a counter that went down as 0', () => {
  const sample = (takenAt: number, counters: Record<string, number>) =>
    ({ takenAt, counters }) as unknown as HostSample;
  const rates = counterRates(
    sample(10_000, { 'TcpExt.ListenOverflows': 10, 'Tcp.OutRsts': 100, 'sockstat.TCP.tw': 5 }),
    sample(12_000, { 'TcpExt.ListenOverflows': 16, 'Tcp.OutRsts': 90, 'sockstat.TCP.tw': 50, 'Tcp.New': 3 }),
  );
  assert.deepEqual(rates, { 'TcpExt.ListenOverflows': 3, 'Tcp.OutRsts': 0 });
});

test('--listen takes address:port, [v6]:port or a port alone', () => {
  assert.deepEqual(parseListen('127.0.0.1:9470'), { host: '127.0.0.1', port: 9470 });
  assert.deepEqual(parseListen('[::1]:8000'), { host: '::1', port: 8000 });
  assert.deepEqual(parseListen('8000'), { host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseListen(':8000'), { host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  for (const bad of ['', 'x', '1.2.3.4', '[::1]', 'host:80', '1.2.3.4:70000'])
    assert.throws(() => parseListen(bad), /--listen/, bad);
});

test('serves only the files of the build, and says how to build it when it is missing', () => {
  assert.throws(() => loadAssets('/nonexistent/web'), /page is not built.*npm run build/);
  ensureWebBuilt();
  const assets = loadAssets();
  const index = assets.get('/index.html');
  assert.ok(index?.type.startsWith('text/html') && !index.immutable);
  const scripts = [...assets.keys()].filter((p) => p.endsWith('.js'));
  assert.ok(scripts.length >= 1 && scripts.every((p) => p.startsWith('/assets/') && assets.get(p)!.immutable));
  // uPlot is bundled, not fetched from a CDN: no absolute URL in the page or its scripts.
  for (const [path, a] of assets)
    if (/\.(html|js|css)$/.test(path))
      assert.doesNotMatch(a.body.toString('utf8'), /(src|href)=["']?(https?:)?\/\//, path);
});
