// What the exporter says about itself (CPU, memory, descriptors, event loop, each scrape), and that
// a client's ephemeral ports make one series, not one per port.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startExporter, type Exporter } from '../../src/observe/exporter-server.ts';
import { parseExposition, sampleValue, type Exposition } from '../helpers/prom-text.ts';
import { hasSs, ssSockets } from '../helpers/ss.ts';

let exporter: Exporter;
const servers: Server[] = [];
const clients: Socket[] = [];

async function scrape(): Promise<Exposition> {
  const res = await fetch(exporter.url);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

async function listener(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('error', () => {}));
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  servers.push(server);
  return { server, port: (server.address() as { port: number }).port };
}

async function openClients(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    await once(c, 'connect');
    clients.push(c);
  }
}

const vmRssBytes = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

before(async () => {
  exporter = await startExporter({ port: 0, topN: 1000, findingsIntervalMs: 0, minIntervalMs: 0 });
});

after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
  await exporter?.close();
});

test('reports its own CPU, resident memory, descriptors and event-loop delay, as /proc shows them', async () => {
  const rssBefore = vmRssBytes();
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const e = await scrape();
  const rssAfter = vmRssBytes();
  const fdsAfter = readdirSync('/proc/self/fd').length;

  const rss = sampleValue(e, 'process_resident_memory_bytes')!;
  assert.ok(
    rss >= Math.min(rssBefore, rssAfter) * 0.9 && rss <= Math.max(rssBefore, rssAfter) * 1.1,
    `${rss} within 10% of VmRSS ${rssBefore}..${rssAfter}`,
  );
  const fds = sampleValue(e, 'process_open_fds')!;
  // readdir of /proc/self/fd opens one descriptor itself while it lists.
  assert.ok(
    fds >= Math.min(fdsBefore, fdsAfter) - 2 && fds <= Math.max(fdsBefore, fdsAfter) + 2,
    `${fds} open descriptors vs ${fdsBefore}..${fdsAfter}`,
  );
  const maxFds = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  assert.equal(sampleValue(e, 'process_max_fds'), maxFds);
  const cpu = sampleValue(e, 'process_cpu_seconds_total')!;
  const usage = process.cpuUsage();
  assert.ok(
    cpu > 0 && cpu <= (usage.user + usage.system) / 1e6 + 0.01,
    `${cpu} s of CPU, at most what the process used`,
  );
  assert.equal(e.types.get('process_cpu_seconds_total'), 'counter');
  assert.ok((sampleValue(e, 'nodejs_eventloop_lag_p99_seconds') ?? -1) >= 0, 'event-loop delay p99 is exported');
  assert.ok((sampleValue(e, 'nodejs_eventloop_lag_max_seconds') ?? -1) >= 0, 'event-loop delay max is exported');
});

test("each scrape reports its duration, its sample's socket count, and counts itself", async () => {
  const first = await scrape();
  const second = await scrape();
  assert.equal(sampleValue(second, 'tcplens_scrapes_total'), sampleValue(first, 'tcplens_scrapes_total')! + 1);
  for (const e of [first, second]) {
    const total = e.samples.filter((s) => s.name === 'tcplens_sockets').reduce((n, s) => n + s.value, 0);
    assert.equal(sampleValue(e, 'tcplens_scrape_sockets'), total, 'the sample this scrape shows');
    // No sharing window here, so each scrape took its own sample: it lasted at least that long.
    const duration = sampleValue(e, 'tcplens_scrape_duration_seconds')!;
    assert.ok(duration >= sampleValue(e, 'tcplens_sample_duration_seconds')!, `${duration} s covers the sample's time`);
    assert.ok(duration < 30);
  }
});

test("per-local-port series name listening ports only; a client's ports add to one ephemeral series and do not churn", {
  skip: !hasSs() && 'ss (iproute2) is missing',
}, async () => {
  const { port } = await listener();
  await openClients(port, 10);
  const estOf = (e: Exposition, p: string) =>
    sampleValue(e, 'tcplens_sockets_by_local_port', { state: 'ESTABLISHED', port: p }) ?? 0;
  const seriesPorts = (e: Exposition) =>
    new Set(e.samples.filter((s) => s.name === 'tcplens_sockets_by_local_port').map((s) => s.labels.port!));
  const ssListening = () =>
    new Set(
      ssSockets()
        .filter((s) => s.state === 'LISTEN')
        .map((s) => s.local.slice(s.local.lastIndexOf(':') + 1)),
    );
  // Other processes on this host open and close listeners meanwhile: a port counts as listening if
  // ss saw it just before or just after the scrape, or the scrape's own tcplens_listeners has it.
  const listeningAround = async () => {
    const before = ssListening();
    const e = await scrape();
    const listening = new Set([
      ...before,
      ...ssListening(),
      ...e.samples.filter((s) => s.name === 'tcplens_listeners').map((s) => s.labels.port!),
    ]);
    return { e, listening };
  };
  const ourClientPorts = () => clients.map((c) => String(c.localPort));

  const a = await listeningAround();
  for (const p of seriesPorts(a.e))
    assert.ok(p === 'ephemeral' || p === 'other' || a.listening.has(p), `series for port ${p}, which does not listen`);
  for (const p of ourClientPorts()) assert.ok(!seriesPorts(a.e).has(p), `a series for our client's port ${p}`);
  assert.ok(estOf(a.e, String(port)) >= 10, 'the server side of our 10 connections, on the listening port');
  assert.ok(estOf(a.e, 'ephemeral') >= 10, 'the client side of our 10 connections, on 10 ephemeral ports');

  // Ten more clients on ten new ephemeral ports: the count moves, the set of series does not (but
  // for a port another process started listening on meanwhile).
  await openClients(port, 10);
  const b = await listeningAround();
  const added = [...seriesPorts(b.e)].filter((p) => !seriesPorts(a.e).has(p));
  for (const p of added) assert.ok(b.listening.has(p), `a new series for port ${p}, which does not listen`);
  for (const p of ourClientPorts()) assert.ok(!seriesPorts(b.e).has(p), `a series for our client's port ${p}`);
  assert.ok(estOf(b.e, 'ephemeral') >= 20, `the client side of our 20 connections (${estOf(b.e, 'ephemeral')})`);
  assert.ok(estOf(b.e, String(port)) >= 20);
});
