import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { httpServer, hello } from '../helpers/servers.ts';

test('-w 2 splits the work over two threads and still counts exactly', async () => {
  const server = await httpServer(hello);
  try {
    const r = await runCli(['bench', server.url, '-n', '2000', '-c', '8', '-w', '2', '--json', '--no-kernel']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.workers, 2);
    assert.equal(result.requests.total, 2000);
    assert.equal(server.count(), 2000);
    assert.equal(result.connectionsOpened, 8);
    assert.equal(result.merged, undefined, 'threads of one run are not a merge of runs');
  } finally {
    await server.close();
  }
});

test('--compare keepalive,close runs both modes and tells them apart by their kernel footprint', async () => {
  const server = await httpServer(hello);
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-compare-'));
  try {
    const html = join(dir, 'report.html');
    const r = await runCli([
      'bench',
      server.url,
      '-n',
      '600',
      '-c',
      '4',
      '--compare',
      'keepalive,close',
      '--json',
      '--html',
      html,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { runs } = JSON.parse(r.stdout);
    assert.deepEqual(
      runs.map((x: { mode: string }) => x.mode),
      ['keepalive', 'close'],
    );
    const [ka, close] = runs;
    assert.equal(ka.connectionsOpened, 4);
    assert.equal(close.connectionsOpened, 600);
    // The client closes first when the server keeps the connection: TIME_WAIT lands here.
    assert.ok(close.kernel.timeWaitPeak >= 500, `close mode TIME_WAIT ${close.kernel.timeWaitPeak}`);
    assert.ok(close.kernel.timeWaitPeak > 10 * Math.max(1, ka.kernel.timeWaitPeak));
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<h1>tcplens bench<\/h1>/);
    assert.match(page, /uPlot/);
    assert.ok(page.includes('"name":"close"'));
    // The close run's TIME_WAIT (60 s) is still there for the next run, which says so rather than claim it.
    const next = await runCli(['bench', server.url, '-n', '100', '-c', '2', '--json']);
    const after = JSON.parse(next.stdout);
    assert.ok(after.kernel.timeWaitAtStart >= 500, `TIME_WAIT at start ${after.kernel.timeWaitAtStart}`);
    assert.match(after.verdict.map((v: { text: string }) => v.text).join('\n'), /were there before this run began/);
    const text = await runCli(['bench', server.url, '-n', '200', '-c', '2', '--compare', 'keepalive,close']);
    assert.match(text.stdout, /mode\s+req\/s\s+mean\s+p99\s+TIME_WAIT added\s+ports\/s\s+errors/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('https: TLS handshake times with --insecure; without it, every request fails with the reason', {
  skip: !hasOpenssl() && 'openssl is missing',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const server = createHttpsServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (_req, res) => res.end('tls'),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/`;
  try {
    let r = await runCli(['bench', url, '-n', '200', '-c', '4', '--insecure', '--json', '--no-kernel']);
    assert.equal(r.code, 0, r.stderr);
    let result = JSON.parse(r.stdout);
    assert.equal(result.requests.ok, 200);
    assert.ok(result.tlsMs.p50 > 0, 'handshake time measured');
    r = await runCli(['bench', url, '-n', '20', '-c', '2', '--no-keepalive', '--insecure', '--json', '--no-kernel']);
    result = JSON.parse(r.stdout);
    assert.equal(result.connectionsOpened, 20);
    r = await runCli(['bench', url, '-n', '10', '-c', '2', '--json', '--no-kernel']);
    assert.equal(r.code, 1, 'no request succeeded');
    result = JSON.parse(r.stdout);
    assert.equal(result.requests.failed, 10);
    assert.equal(result.errors.DEPTH_ZERO_SELF_SIGNED_CERT, 10);
    assert.match(result.verdict[0].text, /every request failed: DEPTH_ZERO_SELF_SIGNED_CERT .*--insecure/);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
