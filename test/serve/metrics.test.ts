import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { execFileSync, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { register as globalRegistry } from 'prom-client';
import { createServerMetrics } from '../../src/serve/metrics.ts';
import type { ConnectionObserver, StateCounts } from '../../src/serve/conn-state.ts';
import { debugServer, get, until } from './debug-server.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)$`);
// prom-client writes NaN as "Nan"; Prometheus reads floats with Go's ParseFloat, which takes any case.
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|Nan|[+-]Inf)$/;

/** The text exposition format, strictly: every line is blank (ignored), a comment, or `name{labels} value`. */
function parseExposition(text: string): Sample[] {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const samples: Sample[] = [];
  const typed = new Set<string>();
  for (const line of text.split('\n').slice(0, -1)) {
    if (line === '') continue; // prom-client separates families with a blank line
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m?.[1] === 'TYPE') {
        assert.match(m[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        typed.add(m[2]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    assert.match(m[3]!, VALUE, line);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const name = m[1]!;
    const family = name.replace(/_(bucket|sum|count|total|created)$/, '');
    assert.ok(typed.has(name) || typed.has(family), `${name} has a # TYPE line`);
    samples.push({ name, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function fakeObserver(counts: StateCounts, requests: () => number): ConnectionObserver {
  return {
    counts: () => counts,
    connections: () => [],
    requestsTotal: requests,
    onStateChange: () => () => {},
    close: () => {},
  };
}

/** Spend user CPU in this process until its own clock says `ms` passed (bounded by wall time). */
function burnUserCpu(ms: number): void {
  const start = process.cpuUsage().user;
  const deadline = Date.now() + 10_000;
  while (process.cpuUsage().user - start < ms * 1000 && Date.now() < deadline);
}

test('/metrics serves Prometheus text whose connection gauges and counters match the observer', async () => {
  const s = await debugServer();
  const app = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await get(s.port, '/', { agent: app });
    await get(s.port, '/', { agent: app });

    const r = await get(s.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(r.body);
    // One idle keep-alive connection, and the scrape's own, active while it is answered.
    assert.equal(value(m, 'tcplens_http_connections', { state: 'idle' }), 1);
    assert.equal(value(m, 'tcplens_http_connections', { state: 'active' }), 1);
    assert.equal(value(m, 'tcplens_http_connections', { state: 'new' }), 0);
    assert.equal(value(m, 'tcplens_http_connections', { state: 'hijacked' }), 0);
    assert.equal(value(m, 'tcplens_http_requests_total'), 3);
    assert.equal(value(m, 'tcplens_http_connections_closed_total'), 0);
    for (const q of ['0.5', '0.9', '0.99', '1']) {
      const v = value(m, 'tcplens_eventloop_delay_seconds', { quantile: q });
      assert.ok(v !== undefined && v >= 0 && v < 1, `quantile ${q}: ${v}`);
    }
    const elu = value(m, 'tcplens_eventloop_utilization_ratio');
    assert.ok(elu !== undefined && elu >= 0 && elu <= 1);
    // prom-client's default metrics, under their standard names.
    // prom-client counts process CPU from its registration, made at this first scrape: present here, and
    // grown by the next scrape (asserted below) after CPU is known to have been spent.
    assert.ok(value(m, 'process_cpu_user_seconds_total')! >= 0);
    assert.ok(value(m, 'nodejs_heap_size_used_bytes')! > 0);

    // Closing the application's connection shows at the next scrape; the first scrape's own
    // connection (Connection: close) is gone by then too.
    app.destroy();
    await until(
      () => s.observer.counts().idle === 0 && s.observer.connections().length === 0,
      'both connections to close',
    );
    burnUserCpu(20);
    const again = parseExposition((await get(s.port, '/metrics')).body);
    assert.ok(value(again, 'process_cpu_user_seconds_total')! >= 0.01, 'user CPU spent since the first scrape');
    assert.equal(value(again, 'tcplens_http_connections_closed_total'), 2);
    assert.equal(value(again, 'tcplens_http_connections', { state: 'idle' }), 0);
    assert.equal(value(again, 'tcplens_http_connections', { state: 'active' }), 1);
    assert.equal(value(again, 'tcplens_http_requests_total'), 4);
  } finally {
    app.destroy();
    await s.close();
  }
});

test('counters follow the observer totals between scrapes, and restart when the observer does', async () => {
  let requests = 5;
  const counts: StateCounts = { new: 1, active: 2, idle: 3, hijacked: 4, closed: 10 };
  const metrics = createServerMetrics({ observer: fakeObserver(counts, () => requests), defaultMetrics: false });
  try {
    let m = parseExposition(await metrics.metrics());
    assert.deepEqual(
      ['new', 'active', 'idle', 'hijacked'].map((state) => value(m, 'tcplens_http_connections', { state })),
      [1, 2, 3, 4],
    );
    assert.equal(value(m, 'tcplens_http_connections_closed_total'), 10);
    assert.equal(value(m, 'tcplens_http_requests_total'), 5);

    requests = 8;
    counts.closed = 12;
    m = parseExposition(await metrics.metrics());
    assert.equal(value(m, 'tcplens_http_requests_total'), 8);
    assert.equal(value(m, 'tcplens_http_connections_closed_total'), 12);

    requests = 2; // a new observer starts from zero: a counter reset, never a negative step
    m = parseExposition(await metrics.metrics());
    assert.equal(value(m, 'tcplens_http_requests_total'), 2);
  } finally {
    metrics.close();
  }
});

test('each server gets a registry of its own: two at once do not clash and the global one stays empty', async () => {
  const a = createServerMetrics({
    observer: fakeObserver({ new: 0, active: 1, idle: 0, hijacked: 0, closed: 0 }, () => 1),
  });
  const b = createServerMetrics({
    observer: fakeObserver({ new: 0, active: 9, idle: 0, hijacked: 0, closed: 0 }, () => 1),
    prefix: 'other_',
  });
  try {
    assert.notEqual(a.registry, b.registry);
    assert.notEqual(a.registry, globalRegistry);
    assert.equal(value(parseExposition(await a.metrics()), 'tcplens_http_connections', { state: 'active' }), 1);
    const mb = parseExposition(await b.metrics());
    assert.equal(value(mb, 'other_http_connections', { state: 'active' }), 9);
    assert.equal(value(mb, 'tcplens_http_connections', { state: 'active' }), undefined);
    assert.deepEqual(globalRegistry.getMetricsAsArray(), []);
  } finally {
    a.close();
    b.close();
  }
  assert.deepEqual(a.registry.getMetricsAsArray(), [], 'close() empties the registry');
});

test('without an observer only event-loop and process metrics are exported', async () => {
  const metrics = createServerMetrics();
  try {
    const m = parseExposition(await metrics.metrics());
    assert.equal(
      m.some((s) => s.name.startsWith('tcplens_http_')),
      false,
    );
    assert.ok(value(m, 'tcplens_eventloop_delay_seconds', { quantile: '1' }) !== undefined);
  } finally {
    metrics.close();
  }
});

test('a 100 ms block of the event loop shows in the delay gauge of the next scrape only', async () => {
  const metrics = createServerMetrics({ defaultMetrics: false });
  try {
    await metrics.metrics(); // start a fresh interval
    const start = performance.now();
    while (performance.now() - start < 100); // block the event loop on purpose
    await sleep(20);
    const m = parseExposition(await metrics.metrics());
    const max = value(m, 'tcplens_eventloop_delay_seconds', { quantile: '1' })!;
    assert.ok(max >= 0.08, `max ${max} s`);
    assert.ok(value(m, 'tcplens_eventloop_delay_seconds', { quantile: '0.5' })! <= max);
    assert.ok(value(m, 'tcplens_eventloop_utilization_ratio')! > 0.5);

    await sleep(20);
    const next = parseExposition(await metrics.metrics());
    assert.ok(value(next, 'tcplens_eventloop_delay_seconds', { quantile: '1' })! < 0.08, 'the interval restarted');
  } finally {
    metrics.close();
  }
});

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

test('promtool check metrics accepts the exposition', {
  skip: promtool ? false : 'promtool is not installed (not installing Prometheus for a lint)',
}, async () => {
  const metrics = createServerMetrics({
    observer: fakeObserver({ new: 0, active: 1, idle: 2, hijacked: 0, closed: 3 }, () => 4),
  });
  try {
    const text = await metrics.metrics();
    // promtool prints lint problems and exits non-zero on them; execFileSync throws with its output.
    execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  } finally {
    metrics.close();
  }
});
