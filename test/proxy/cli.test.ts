// `tcplens proxy` from the command line: one clean line for bad input and busy ports, --json and
// --config, the API answering curl, and the counts at shutdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import { dial, echoServer, roundTrip } from './helpers.ts';
import { startCliProxy } from './cli-proxy.ts';
import { parseFraction, parseLatency, parseSlicer, readConfigFile, shortcutProxy } from '../../src/proxy/config.ts';
import { createProxyServer } from '../../src/proxy/server.ts';
import { UsageError } from '../../src/errors.ts';

test('the messages of bad flags and config files name what is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-proxy-cfg-'));
  try {
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '[{"name": ');
    const notList = join(dir, 'object.json');
    writeFileSync(notList, '{"name": "a"}');
    const usage = (fn: () => unknown, message: RegExp) =>
      assert.throws(fn, (e: Error) => e instanceof UsageError && message.test(e.message));
    usage(() => readConfigFile(join(dir, 'nope.json')), /cannot read --config .*no such file/);
    usage(() => readConfigFile(notJson), /is not JSON/);
    usage(() => readConfigFile(notList), /must hold a list of proxies/);
    usage(() => parseFraction('--toxicity')('1.5'), /--toxicity takes a probability/);
    assert.equal(parseFraction('--toxicity')('5%'), 0.05);
    assert.deepEqual(parseLatency('--latency')('200ms-2s'), { latencyMs: 1100, jitterMs: 900 });
    usage(() => parseLatency('--latency')('2s-200ms'), /from low to high/);
    usage(() => parseSlicer('0'), /at least 1 byte/);
    const base = {
      name: 'p',
      listen: '127.0.0.1:0',
      upstream: '127.0.0.1:9',
      toxicity: 1,
      stream: 'downstream' as const,
    };
    usage(() => shortcutProxy({ ...base, http: false, status: 503 }), /--status acts per HTTP request: add --http/);
    usage(() => shortcutProxy({ ...base, http: true, jitterMs: 5 }), /--jitter goes with --latency/);
    usage(() => shortcutProxy({ ...base, http: true, retryAfterS: 5 }), /--retry-after goes with --status/);
    // Config entries are checked as the API checks them.
    await assert.rejects(
      createProxyServer({
        api: false,
        proxies: [{ name: 'a', upstream: '127.0.0.1:9', toxics: [{ type: 'nosuch' }] }],
      }),
      /invalid toxic type/,
    );
    // An upstream without a port: a slip on the command line; accepted from a file, as Toxiproxy does.
    usage(
      () => shortcutProxy({ ...base, upstream: 'nowhere', http: false }),
      /--upstream takes HOST:PORT \(missing port in address nowhere\)/,
    );
    const lenient = await createProxyServer({ api: false, proxies: [{ name: 'a', upstream: 'nowhere' }] });
    await lenient.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input and busy ports give one line and exit 2', async () => {
  const busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const busyPort = (busy.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-proxy-cli-'));
  const missing = join(dir, 'missing.json');
  writeFileSync(missing, JSON.stringify([{ name: 'a', listen: '127.0.0.1:0' }]));
  try {
    // Each kind of failure once (a child process each costs time); the messages of the rest are
    // checked in-process below.
    const cases: [string[], RegExp][] = [
      [['--latency', '5x'], /--latency takes milliseconds/],
      [['--listen', '127.0.0.1:0'], /--listen needs --upstream/],
      [['--upstream', '127.0.0.1:9', '--http', '--bandwidth', '10'], /--bandwidth is a TCP toxic/],
      [['--config', missing, '--no-api'], /missing required field: upstream at proxy 1/],
      [
        ['--no-api', '--listen', `127.0.0.1:${busyPort}`, '--upstream', '127.0.0.1:9'],
        new RegExp(`cannot listen: 127\\.0\\.0\\.1:${busyPort}: bind: address already in use`),
      ],
      [['--api', `127.0.0.1:${busyPort}`], /cannot listen on 127\.0\.0\.1:\d+ \(control API\): the port is in use/],
    ];
    // Side by side: each is a process start.
    const results = await Promise.all(cases.map(([args]) => runCli(['proxy', ...args], { timeoutMs: 20_000 })));
    cases.forEach(([args, message], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneCleanLine(r.stderr), `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  } finally {
    busy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TLS proxy whose files cannot be used: one line naming the flag, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-proxy-cli-tls-'));
  const missing = join(dir, 'not-pem.json');
  writeFileSync(missing, '[]');
  try {
    const cases: [string[], RegExp][] = [
      [
        ['--no-api', '--upstream', '127.0.0.1:9', '--cert', join(dir, 'none.pem'), '--key', missing],
        /^tcplens: cannot read --cert .*none\.pem: ENOENT$/m,
      ],
      [
        ['--no-api', '--upstream', '127.0.0.1:9', '--cert', missing, '--key', missing],
        /^tcplens: --cert\/--key \(.*\) cannot be used: /m,
      ],
      [
        ['--no-api', '--upstream', '127.0.0.1:9', '--upstream-ca', join(dir, 'none.pem')],
        /^tcplens: cannot read --upstream-ca .*none\.pem: ENOENT$/m,
      ],
      [['--no-api', '--upstream', '127.0.0.1:9', '--cert', missing], /--cert and --key go together/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['proxy', ...args], { timeoutMs: 90_000 })));
    cases.forEach(([args, message], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneCleanLine(r.stderr), `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a one-off proxy from flags: --json gives the bound address, curl drives the API, the counts come at shutdown', async () => {
  const echo = await echoServer();
  const proxy = await startCliProxy([
    '--api',
    '127.0.0.1:0',
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    echo.address,
    '--latency',
    '50ms',
    '--jitter',
    '5ms',
  ]);
  try {
    assert.match(proxy.api!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(proxy.proxies[0]!.toxics, [
      {
        attributes: { latency: 50, jitter: 5 },
        name: 'latency_downstream',
        type: 'latency',
        stream: 'downstream',
        toxicity: 1,
      },
    ]);
    // The proxy is another process: a busy machine slows it and the echo here, toxic or not. A
    // second proxy of the same process with no toxic, tried in turn, measures that alongside; the
    // fastest trip is never below the latency, what the toxic added never much above it.
    const control = await fetch(`${proxy.api}/proxies`, {
      method: 'POST',
      body: JSON.stringify({ name: 'control', listen: '127.0.0.1:0', upstream: echo.address }),
    });
    assert.equal(control.status, 201);
    const c = await dial(Number(((await control.json()) as { listen: string }).listen.split(':').pop()));
    const s = await dial(proxy.port('proxy'));
    const pairs: { ms: number; controlMs: number }[] = [];
    for (let i = 0; i < 5; i++) pairs.push({ ms: await roundTrip(s), controlMs: await roundTrip(c) });
    const rtt = Math.min(...pairs.map((p) => p.ms));
    const addedMs = Math.min(...pairs.map((p) => p.ms - p.controlMs));
    const seen = pairs.map((p) => `${p.ms.toFixed(0)} (without the toxic ${p.controlMs.toFixed(0)})`).join(', ');
    assert.ok(rtt >= 44 && addedMs < 50 + 5 + 25, `round trips ${seen} ms`);
    s.destroy();
    c.destroy();
    // curl, as a user would: a bad body gets 400 and Toxiproxy's message.
    const out = execFileSync(
      'curl',
      ['-s', '-w', '\n%{http_code}', '-X', 'POST', `${proxy.api}/proxies/proxy/toxics`, '-d', '{"type":"nosuch"}'],
      { encoding: 'utf8' },
    );
    assert.deepEqual(out.split('\n'), ['{"error":"invalid toxic type","status":400}', '400']);
    const { code, last } = await proxy.stop();
    assert.equal(code, 0);
    const stats = JSON.parse(last).stats.find((p: { name: string }) => p.name === 'proxy');
    assert.equal(stats.connectionsTotal, 1);
    assert.equal(stats.toxics[0].connectionsAffected, 1);
  } finally {
    proxy.child.kill('SIGKILL');
    await echo.close();
  }
});
