// Hostile input against the exporter's HTTP surface: generated request lines and headers get a 4xx
// (never a 5xx) and leave it serving; and the decision that it answers any Host header, held.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startExporter, type Exporter } from '../../src/observe/exporter-server.ts';
import { rawExchange } from '../helpers/raw-http.ts';

let exporter: Exporter;

before(async () => {
  exporter = await startExporter({ port: 0, topN: 5 });
});
after(() => exporter?.close());

// A scrape reads every socket of the host: on a busy one it takes seconds.
const ask = (request: string) => rawExchange(exporter.port, request, 30_000);

test('answers /metrics whatever the Host header: Prometheus scrapes by any address or name', async () => {
  // Unlike the dashboard: a fleet's scrape targets are IPs, DNS names and service-discovery
  // addresses the exporter cannot know in advance, and what it serves is read-only counts.
  for (const host of [`127.0.0.1:${exporter.port}`, 'node-17.prod.example:9477', '10.1.2.3:9477', 'attacker.example']) {
    const r = await ask(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200, host);
    assert.match(r.raw, /^tcplens_sockets\{/m, host);
  }
  // It sends no CORS header, so a page of another site that is not rebinding DNS cannot read it.
  const r = await ask(
    `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\nOrigin: http://attacker.example\r\nConnection: close\r\n\r\n`,
  );
  assert.doesNotMatch(r.raw.split('\r\n\r\n')[0]!, /access-control-allow-origin/i);
});

test('any request line and headers: 200, 400, 404, 405 or 431, never a 5xx, and it keeps serving', async () => {
  const method = fc.oneof(
    fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH'),
    fc.stringMatching(/^[A-Z]{1,8}$/),
  );
  const target = fc.oneof(
    fc.constantFrom(
      '/',
      '/metrics',
      '/metrics?x=1',
      '//',
      '//[',
      '/metrics/',
      '/../metrics',
      '*',
      'http://x/metrics',
      '/%00',
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((s) => '/' + s.replace(/\s/g, '')),
    fc.webPath(),
  );
  const header = fc.oneof(
    fc.constantFrom(
      'Host: x',
      'Host:',
      'Accept: application/openmetrics-text; version=1.0.0',
      'Accept-Encoding: gzip',
      'Content-Length: 5',
      'Transfer-Encoding: chunked',
      'Expect: 100-continue',
      `X: ${'a'.repeat(20_000)}`,
    ),
    fc
      .tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), fc.string({ unit: 'binary-ascii', maxLength: 30 }))
      .map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}`),
  );
  await fc.assert(
    fc.asyncProperty(method, target, fc.array(header, { maxLength: 4 }), async (m, t, headers) => {
      const r = await ask(
        `${m} ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n`,
      );
      assert.ok(
        [200, 400, 404, 405, 413, 431].includes(r.status),
        `${m} ${t} ${JSON.stringify(headers).slice(0, 200)}: ${r.raw.slice(0, 200)}`,
      );
    }),
    { numRuns: 150 },
  );
  const r = await ask(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  assert.equal(r.status, 200);
});
