// The same sequence of control-API calls against the real toxiproxy-server and against tcplens:
// status codes, content types and bodies must match, but for the differences the README lists.
// Skipped (with the reason) where the Toxiproxy binary is absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createProxyServer } from '../../src/proxy/server.ts';
import { collect, dial, echoServer, sleep } from './helpers.ts';
import { TOXIPROXY_SERVER, startToxiproxy } from './toxiproxy.ts';

interface Answer {
  status: number;
  contentType: string | null;
  body: unknown;
}

/** A body with what legitimately differs taken out: bound ports, Toxiproxy's Logger, tcplens's own fields. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'Logger' || k === 'mode' || k === 'max_connections') continue;
    out[k] = k === 'listen' && typeof x === 'string' ? x.replace(/:\d+$/, ':PORT') : normalize(x);
  }
  return out;
}

async function ask(base: string, method: string, path: string, body?: string): Promise<Answer> {
  const res = await fetch(base + path, { method, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain text (404 page not found) compares as text
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body: normalize(parsed) };
}

test('a sequence of API calls answers as the real toxiproxy-server does: status, content type and body', {
  skip: !existsSync(TOXIPROXY_SERVER) && `no ${TOXIPROXY_SERVER}`,
}, async () => {
  const echo = await echoServer();
  const real = await startToxiproxy();
  const ours = await createProxyServer({ api: '127.0.0.1:0' });
  const up = echo.address;
  const calls: [string, string, string?][] = [
    ['GET', '/proxies'],
    ['POST', '/proxies', '{"name": "x", '],
    ['POST', '/proxies', '{"name": "x" x'],
    ['POST', '/proxies', '{"name": "x",}'],
    ['POST', '/proxies', 'x'],
    ['POST', '/proxies', ''],
    ['POST', '/proxies', '[]'],
    ['POST', '/proxies', '{"name": 5}'],
    ['POST', '/proxies', `{"name": "q", "upstream": "${up}", "enabled": "yes"}`],
    ['POST', '/proxies', `{"upstream": "${up}"}`],
    ['POST', '/proxies', '{"name": "q"}'],
    ['POST', '/proxies', `{"name": "a", "listen": "127.0.0.1:0", "upstream": "${up}"}`],
    ['POST', '/proxies', `{"name": "a", "listen": "127.0.0.1:0", "upstream": "${up}"}`],
    ['POST', '/proxies', '{"name": "noport", "listen": "127.0.0.1:0", "upstream": "127.0.0.1"}'],
    ['POST', '/proxies', `{"name": "trailing", "listen": "127.0.0.1:0", "upstream": "${up}"} and more`],
    ['GET', '/proxies/a'],
    ['GET', '/proxies/nope'],
    ['POST', '/proxies/nope/toxics', '{"type": "latency"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "attributes": {"latency": 10, "jitter": 2}}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency"}'],
    ['POST', '/proxies/a/toxics', '{"type": "noop", "name": "n"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "stream": "UPSTREAM"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "neg", "attributes": {"latency": -5}}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "t5", "toxicity": 5}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "tneg", "toxicity": -0.5}'],
    [
      'POST',
      '/proxies/a/toxics',
      '{"type": "slicer", "name": "s", "attributes": {"average_size": 1, "size_variation": 1000}}',
    ],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "e", "attributes": {"latency": 1e300}}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "e", "attributes": {"latency": 1.5}}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "e", "attributes": {"latency": "slow"}}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "e", "toxicity": "all"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "name": "e", "stream": 5}'],
    ['POST', '/proxies/a/toxics', '{"type": "nosuch"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "stream": "sideways"}'],
    ['POST', '/proxies/a/toxics', '{"type": "latency", "attributes": 5, "name": "z"}'],
    ['POST', '/proxies/a/toxics', '[]'],
    ['GET', '/proxies/a/toxics'],
    ['GET', '/proxies/a/toxics/latency_downstream'],
    ['GET', '/proxies/a/toxics/nope'],
    ['PATCH', '/proxies/a/toxics/latency_downstream', '{"attributes": {"jitter": 5}}'],
    ['PATCH', '/proxies/a/toxics/latency_downstream', '{"toxicity": 0.5}'],
    ['PATCH', '/proxies/a/toxics/nope', '{}'],
    ['DELETE', '/proxies/a/toxics/n'],
    ['DELETE', '/proxies/a/toxics/n'],
    ['GET', '/proxies/a'],
    ['POST', '/proxies/a', '{"enabled": false}'],
    ['GET', '/proxies/a'],
    ['POST', '/proxies/a', '{"enabled": true}'],
    ['POST', '/proxies/a', '{"listen": 5}'],
    ['POST', '/populate', '[]'],
    ['POST', '/populate', '{"proxies": []}'],
    ['POST', '/populate', '[{"name": "pp"}]'],
    ['POST', '/populate', 'x'],
    ['POST', '/populate', `[{"name": "pp", "listen": "127.0.0.1:0", "upstream": "${up}"}]`],
    ['POST', '/reset'],
    ['GET', '/proxies/a/toxics'],
    ['DELETE', '/proxies/a'],
    ['DELETE', '/proxies/a'],
    ['PUT', '/proxies'],
    ['GET', '/nothing'],
    ['POST', '/proxies', `{"Name": "caps", "LISTEN": "127.0.0.1:0", "Upstream": "${up}"}`],
    ['POST', '/proxies', `{"name": "off", "listen": "127.0.0.1:0", "upstream": "${up}", "enabled": false}`],
    ['GET', '/proxies/off'],
    ['POST', '/proxies/off/toxics', '{"type": "latency", "attributes": {"LATENCY": 7}}'],
    ['PATCH', '/proxies/off/toxics/latency_downstream', '{"attributes": {"latency": "x"}}'],
    ['PATCH', '/proxies/off/toxics/latency_downstream', '{"attributes": 5}'],
    ['PATCH', '/proxies/off/toxics/latency_downstream', '[]'],
    [
      'PATCH',
      '/proxies/off/toxics/latency_downstream',
      '{"stream": "upstream", "name": "renamed", "type": "bandwidth"}',
    ],
    ['POST', '/proxies/off', '{"enabled": "x"}'],
    ['POST', '/proxies/off', '[]'],
    ['PATCH', '/proxies/off', '{"upstream": "127.0.0.1:9"}'],
    ['POST', '/populate', `[{"name": "off", "listen": "127.0.0.1:0", "upstream": "${up}"}]`],
    ['POST', '/populate', `[{"name": 5}]`],
    ['POST', '/populate', `[{"name": "z1", "listen": "127.0.0.1:0", "upstream": "${up}"}, {"name": "z2"}]`],
    ['POST', '/reset'],
    ['GET', '/proxies/off'],
    ['GET', '/proxies/'],
    ['GET', '/proxies/off/toxics/'],
    ['DELETE', '/proxies'],
    ['GET', '/reset'],
    ['POST', '/version'],
    ['GET', '/proxies/%zz'],
  ];
  try {
    const differences: string[] = [];
    for (const [method, path, body] of calls) {
      const [a, b] = [await ask(real.url, method, path, body), await ask(ours.apiUrl!, method, path, body)];
      try {
        assert.deepEqual(b, a);
      } catch {
        differences.push(
          `${method} ${path} ${body ?? ''}\n  toxiproxy: ${JSON.stringify(a)}\n  tcplens:   ${JSON.stringify(b)}`,
        );
      }
    }
    assert.deepEqual(differences, [], differences.join('\n'));
    // /version: Toxiproxy's shape and API level; tcplens's own version beside it.
    const [a, b] = [await ask(real.url, 'GET', '/version'), await ask(ours.apiUrl!, 'GET', '/version')];
    assert.equal(b.contentType, a.contentType);
    assert.equal(
      String((b.body as { version: string }).version),
      String((a.body as { version: string }).version).split('-')[0],
    );
  } finally {
    await real.close();
    await ours.close();
    await echo.close();
  }
});

test("/metrics serves Toxiproxy's byte series as toxiproxy-server -proxy-metrics does, next to tcplens's own", {
  skip: !existsSync(TOXIPROXY_SERVER) && `no ${TOXIPROXY_SERVER}`,
}, async () => {
  const echo = await echoServer();
  const real = await startToxiproxy(['-proxy-metrics']);
  const ours = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const series: string[][] = [];
    for (const url of [real.url, ours.apiUrl!]) {
      const created = await fetch(`${url}/proxies`, {
        method: 'POST',
        body: JSON.stringify({ name: 'm', listen: '127.0.0.1:0', upstream: echo.address }),
      });
      const port = Number(((await created.json()) as { listen: string }).listen.split(':').pop());
      // 3 of the 5 echoed bytes reach the client: sent and received differ downstream.
      await fetch(`${url}/proxies/m/toxics`, {
        method: 'POST',
        body: '{"type": "limit_data", "attributes": {"bytes": 3}}',
      });
      const s = await dial(port);
      const got = collect(s, 5000);
      s.write('hello');
      assert.equal((await got).bytes.toString(), 'hel');
      await sleep(100);
      const text = await (await fetch(`${url}/metrics`)).text();
      series.push(
        text
          .split('\n')
          .filter((l) => l.startsWith('toxiproxy_proxy_'))
          .map((l) => l.replace(/listener="127\.0\.0\.1:\d+"/, 'listener="L"')),
      );
    }
    assert.equal(series[0]!.length, 4, series[0]!.join('\n'));
    assert.deepEqual(series[1], series[0]);
  } finally {
    await real.close();
    await ours.close();
    await echo.close();
  }
});

test('the deliberate differences from Toxiproxy hold: loopback by default, toxics in populate, tcplens fields in a proxy', async () => {
  const echo = await echoServer();
  const ours = await createProxyServer({ api: '127.0.0.1:0' });
  try {
    const created = await ask(
      ours.apiUrl!,
      'POST',
      '/proxies',
      JSON.stringify({ name: 'nolisten', upstream: echo.address }),
    );
    assert.equal(created.status, 201);
    assert.match(
      ours.proxy('nolisten')!.listen,
      /^127\.0\.0\.1:\d+$/,
      'an omitted listen binds loopback, not every interface',
    );
    const raw = (await (await fetch(`${ours.apiUrl}/proxies/nolisten`)).json()) as Record<string, unknown>;
    assert.deepEqual([raw.mode, raw.max_connections], ['tcp', 10_000]);
    const populated = await ask(
      ours.apiUrl!,
      'POST',
      '/populate',
      JSON.stringify([
        {
          name: 'withtoxics',
          listen: '127.0.0.1:0',
          upstream: echo.address,
          toxics: [{ type: 'latency', attributes: { latency: 5 } }],
        },
      ]),
    );
    assert.equal(populated.status, 201);
    assert.deepEqual(
      ours
        .proxy('withtoxics')!
        .toJSON()
        .toxics.map((t) => [t.type, t.attributes.latency]),
      [['latency', 5]],
      'created with its toxics at once',
    );
  } finally {
    await ours.close();
    await echo.close();
  }
});
