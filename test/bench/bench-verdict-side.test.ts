// The verdict decided from this run's own numbers: who holds TIME_WAIT, error statuses, keep-alive port advice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { verdict } from '../../src/bench/verdict.ts';
import type { KernelFootprint } from '../../src/model/bench-result.ts';
import { runCli } from '../helpers/cli.ts';

type Input = Parameters<typeof verdict>[0];
const said = (v: ReturnType<typeof verdict>) => v.map((x) => `${x.severity}: ${x.text}`).join('\n');

function run(k: Partial<KernelFootprint>, over: Partial<Input> = {}): Input {
  const kernel: KernelFootprint = {
    timeWaitPeak: 0,
    timeWaitPeakClientSide: 0,
    timeWaitPeakServerSide: 0,
    ephemeralPortsPeak: 100,
    ephemeralPortsUsable: 28_232,
    samples: 4,
    counters: {},
    targetIsLocal: true,
    ...k,
  };
  return {
    mode: 'close',
    connections: 16,
    durationS: 3,
    errors: {},
    errorDetails: [],
    kernel,
    requests: { total: 4400, ok: 4400, failed: 0, perSecond: 1466 },
    connectionsOpened: 4400,
    ...over,
  };
}

test('a local server in close mode with TIME_WAIT on both ends (client 1,794, server 2,598) says both sides hold it, not that the server does', () => {
  const v = said(
    verdict(
      run({
        timeWaitPeak: 4392,
        timeWaitPeakClientSide: 1794,
        timeWaitPeakServerSide: 2598,
        timeWaitAdded: 4392,
        timeWaitAddedClientSide: 1794,
        timeWaitAddedServerSide: 2598,
      }),
    ),
  );
  assert.match(v, /both sides hold TIME_WAIT \(client 1,794, server 2,598\)/, v);
  assert.doesNotMatch(v, /the server holds the TIME_WAIT/, v);
});

test("the side is decided from this run's TIME_WAIT, not from what an earlier run left on the other side", () => {
  // 9,000 server-side TIME_WAIT from a run before (keep-alive server closing), this run's 4,000 on the client.
  const v = said(
    verdict(
      run({
        timeWaitPeak: 13_000,
        timeWaitPeakClientSide: 4000,
        timeWaitPeakServerSide: 9000,
        timeWaitAtStart: 9000,
        timeWaitAtStartClientSide: 0,
        timeWaitAtStartServerSide: 9000,
      }),
    ),
  );
  assert.match(v, /this client holds the TIME_WAIT \(it closed first\)/, v);
});

test('a remote server: the client side alone decides, against connections made (9 TIME_WAIT for 12,676 connections: the server closed first)', () => {
  const v = verdict(
    run(
      { timeWaitPeak: 9, timeWaitPeakClientSide: 9, targetIsLocal: false },
      { connectionsOpened: 12_676, requests: { total: 12_676, ok: 12_676, failed: 0, perSecond: 4225 } },
    ),
  );
  const text = said(v);
  assert.match(text, /the server closed first \(this client holds 9 TIME_WAIT for 12,676 connections\)/, text);
  assert.ok(!v.some((x) => x.severity === 'critical'), text);
});

test('every response a 404: a warning that says to check the URL, and no check mark; also without the kernel section', () => {
  const base = run(
    {},
    {
      mode: 'keepalive',
      connectionsOpened: 16,
      statuses: { '404': 13_221 },
      requests: { total: 13_221, ok: 0, failed: 0, perSecond: 4400 },
    },
  );
  for (const input of [base, { ...base, kernel: undefined }]) {
    const v = verdict(input);
    assert.ok(
      v.some((x) => x.severity === 'warning' && /every response was 404: check the URL/.test(x.text)),
      said(v),
    );
    assert.ok(!v.some((x) => x.severity === 'ok'), said(v));
  }
  const mixed = verdict({
    ...base,
    statuses: { '500': 10, '503': 5 },
    requests: { total: 15, ok: 0, failed: 0, perSecond: 5 },
  });
  assert.match(said(mixed), /no response was a success \(500: 10, 503: 5\)/);
});

test('keep-alive with more connections than ports: fewer connections or a wider range, not "use keep-alive"; failed connects measured against connections wanted', () => {
  const refused = [
    { code: 'EADDRNOTAVAIL', count: 100, first: 'connect EADDRNOTAVAIL 127.0.0.1:8080', meaning: 'no local port free' },
  ];
  const v = verdict(
    run(
      { ephemeralPortsPeak: 200, ephemeralPortsUsable: 200 },
      {
        mode: 'keepalive',
        connections: 300,
        connectionsOpened: 200,
        connectErrors: 800,
        errors: { EADDRNOTAVAIL: 800 },
        errorDetails: [{ ...refused[0]!, count: 800 }],
        requests: { total: 132_678, ok: 132_678, failed: 0, perSecond: 44_000 },
      },
    ),
  );
  const text = said(v);
  assert.doesNotMatch(text, /Use keep-alive/, text);
  assert.match(text, /already uses keep-alive.*open fewer \(-c below 200\), or widen ip_local_port_range/, text);
  // 800 of 1,000 connections wanted, not 800 of 133,478 attempts (< 1%).
  assert.match(text, /critical: 800 of 1,000 connection attempts failed \(80%\)/, text);
  assert.ok(!v.some((x) => x.severity === 'ok'), text);
});

test('bench against a server that answers 404 to everything: exit 0, a warning, no ✔ (with --no-kernel too)', async () => {
  const server = createServer((_q, s) => {
    s.statusCode = 404;
    s.end('no');
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    for (const extra of [[], ['--no-kernel']]) {
      const r = await runCli(['bench', `http://127.0.0.1:${port}/nope`, '-n', '200', '-c', '2', ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /! every response was 404: check the URL/, r.stdout);
      assert.doesNotMatch(r.stdout, /✔/, r.stdout);
    }
  } finally {
    server.close();
  }
});

test('keep-alive whose connects ran out of ports: the header says how many of the connections asked for could be opened', async () => {
  const { Recorder } = await import('../../src/bench/recorder.ts');
  const { summarize } = await import('../../src/bench/summarize.ts');
  const { renderBench } = await import('../../src/render/bench.ts');
  const { runData } = await import('./run-data.ts');
  const rec = new Recorder();
  rec.recording = true;
  for (let i = 0; i < 200; i++) rec.connected(1, undefined);
  for (let i = 0; i < 1000; i++) rec.response(200, 1);
  for (let i = 0; i < 800; i++) rec.connectFailed('EADDRNOTAVAIL', 'connect EADDRNOTAVAIL 127.0.0.1:8080');
  rec.tick(1);
  const r = summarize(runData(rec, { connections: 300 }));
  assert.equal(r.connectionsOpened, 200);
  assert.match(renderBench(r, false).split('\n')[0]!, /keep-alive, 300 connections \(200 could be opened\), /);
});
