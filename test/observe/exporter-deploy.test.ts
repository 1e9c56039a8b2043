import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostMetrics } from '../../src/observe/exporter.ts';
import { hasPromtool, parseExposition } from '../helpers/prom-text.ts';
import { parse as parseYaml } from 'yaml';

const DEPLOY = new URL('../../deploy/', import.meta.url).pathname;

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/tcplens.json'), 'utf8')) as {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
};
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Names of every metric family the exporter exports, from a real scrape of this host. */
async function exportedFamilies(): Promise<Set<string>> {
  // With a trace's source, as with --ebpf: its families are exported too.
  const reasons = { totals: () => ({ drops: {}, resetsSent: {}, resetsReceived: 0, lostEvents: 0, running: true }) };
  const metrics = createHostMetrics({ findingsIntervalMs: 0, reasons });
  try {
    return new Set(parseExposition(await metrics.scrape()).types.keys());
  } finally {
    metrics.close();
  }
}

// A metric name, not a part of a recording rule's name (instance:tcplens_…:rate5m).
const metricNames = (expr: string) => [...expr.matchAll(/(?<![:\w])(tcplens_[a-z0-9_]+)(?![:\w])/g)].map((m) => m[1]!);

function promtool(args: string[], cwd?: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd, timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the Grafana dashboard is a dashboard: schema, a Prometheus data-source variable, panels that do not overlap', () => {
  assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  assert.ok(dashboard.uid);
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
  assert.ok(ds && ds.query === 'prometheus', 'a data-source variable of type prometheus');
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24-column grid`);
    if (p.type !== 'row') assert.equal(p.datasource?.uid, `\${${ds.name}}`, `${p.title} uses the data-source variable`);
  }
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const other = cells.get(`${x},${y}`);
        assert.ok(!other, `${p.title} overlaps ${other}`);
        cells.set(`${x},${y}`, p.title);
      }
    }
  }
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
  for (const want of [
    'sockets by state',
    'time_wait by',
    'ephemeral',
    'listen queue fill',
    'overflows',
    'syn cookies',
    'resets',
    'retransmits',
    'doctor findings',
  ]) {
    assert.ok(titles.includes(want), `a panel about ${want}`);
  }
  assert.ok(exprs.length >= 20, `${exprs.length} queries`);
});

test('every dashboard query names only metrics the exporter really exports', async () => {
  const families = await exportedFamilies();
  for (const { panel, expr } of exprs) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${panel}: ${expr} names a tcplens metric`);
    for (const name of names) assert.ok(families.has(name), `${panel}: ${name} is not exported`);
  }
});

test('every dashboard query is valid PromQL (promtool check rules)', {
  skip: !hasPromtool() && 'promtool not installed',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-grafana-'));
  try {
    // Grafana's variables, replaced the way Grafana would before sending the query.
    const rules = exprs.map((e, i) => ({
      record: `tcplens_dashboard_check:q${i}`,
      expr: e.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m'),
    }));
    const yaml = `groups:\n  - name: dashboard\n    rules:\n${rules.map((r) => `      - record: ${r.record}\n        expr: ${JSON.stringify(r.expr)}\n`).join('')}`;
    writeFileSync(join(dir, 'dashboard.yml'), yaml);
    const r = promtool(['check', 'rules', join(dir, 'dashboard.yml')]);
    assert.equal(r.status, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Prometheus example config and rules pass promtool, and their alerts fire in its unit tests', {
  skip: !hasPromtool() && 'promtool not installed',
}, async () => {
  const cwd = join(DEPLOY, 'prometheus');
  const config = promtool(['check', 'config', 'prometheus.yml'], cwd);
  assert.equal(config.status, 0, config.out);
  const rules = promtool(['check', 'rules', 'tcplens-rules.yml'], cwd);
  assert.equal(rules.status, 0, rules.out);
  assert.doesNotMatch(rules.out, /WARNING|lint/i, rules.out);
  const unit = promtool(['test', 'rules', 'tcplens-rules.test.yml'], cwd);
  assert.equal(unit.status, 0, unit.out);
  const families = await exportedFamilies();
  for (const name of metricNames(readFileSync(join(cwd, 'tcplens-rules.yml'), 'utf8'))) {
    assert.ok(families.has(name), `tcplens-rules.yml: ${name} is not exported`);
  }
});

test('every alert of the rules file has a promtool unit test in which it fires', () => {
  const rules = parseYaml(readFileSync(join(DEPLOY, 'prometheus/tcplens-rules.yml'), 'utf8')) as {
    groups: { rules: { alert?: string }[] }[];
  };
  const unit = parseYaml(readFileSync(join(DEPLOY, 'prometheus/tcplens-rules.test.yml'), 'utf8')) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
  assert.ok(alerts.length >= 9);
  const firing = new Set(
    unit.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)),
  );
  assert.deepEqual(
    alerts.filter((a) => !firing.has(a)),
    [],
    'alerts without a unit test where they fire',
  );
});
