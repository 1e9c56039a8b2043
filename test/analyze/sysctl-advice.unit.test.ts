import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adviseNofile,
  adviseSysctls,
  buildSysctlReport,
  emitSysctlConf,
  meetsRule,
  planApply,
  sysctlWriteCommand,
  type KnobRow,
  type SysctlReport,
} from '../../src/analyze/sysctl-advice.ts';
import { PROFILES, SYSCTL_CATALOG, type Profile } from '../../src/analyze/sysctl-catalog.ts';
import { formatSysctlValue, parseSysctlValue, type SysctlReading } from '../../src/kernel/sysctl.ts';

// The values of a stock 6.x kernel in the host's initial network namespace.
const STOCK: Record<string, string> = {
  'net.core.somaxconn': '4096',
  'net.ipv4.tcp_max_syn_backlog': '2048',
  'net.ipv4.tcp_syncookies': '1',
  'net.ipv4.tcp_abort_on_overflow': '0',
  'net.ipv4.tcp_tw_reuse': '2',
  'net.ipv4.tcp_tw_reuse_delay': '1000',
  'net.ipv4.tcp_fin_timeout': '60',
  'net.ipv4.tcp_max_tw_buckets': '131072',
  'net.ipv4.ip_local_port_range': '32768\t60999',
  'net.ipv4.ip_local_reserved_ports': '',
  'net.ipv4.tcp_keepalive_time': '7200',
  'net.ipv4.tcp_keepalive_intvl': '75',
  'net.ipv4.tcp_keepalive_probes': '9',
  'net.ipv4.tcp_syn_retries': '6',
  'net.ipv4.tcp_synack_retries': '5',
  'net.ipv4.tcp_max_orphans': '131072',
  'net.core.netdev_max_backlog': '1000',
  'net.ipv4.tcp_timestamps': '1',
  'fs.file-max': '2466193',
  'fs.nr_open': '1048576',
};

function readings(values: Record<string, string | undefined>): SysctlReading[] {
  return Object.entries(values).map(([name, raw]) =>
    raw === undefined ? { name, present: false } : { name, present: true, raw: `${raw}\n` },
  );
}

function row(rows: KnobRow[], name: string): KnobRow {
  const found = rows.find((r) => r.name === name);
  assert.ok(found, `no row for ${name}`);
  return found;
}

function report(profile: Profile, values: Record<string, string | undefined> = STOCK): SysctlReport {
  return buildSysctlReport({
    profile,
    kernel: '6.18.0-test',
    readings: readings(values),
    nofile: { pid: 'self', soft: 20000, hard: 20000 },
  });
}

test('compares with each rule: equal, at least, at most, and a port range at least as wide', () => {
  assert.equal(meetsRule({ op: 'equal', value: 1 }, 1), true);
  assert.equal(meetsRule({ op: 'equal', value: 1 }, 2), false);
  assert.equal(meetsRule({ op: 'atLeast', value: 4096 }, 65535), true);
  assert.equal(meetsRule({ op: 'atLeast', value: 4096 }, 128), false);
  assert.equal(meetsRule({ op: 'atMost', value: 30 }, 30), true);
  assert.equal(meetsRule({ op: 'atMost', value: 30 }, 60), false);
  const wide = { op: 'portsAtLeast', value: { low: 10000, high: 65535 } } as const;
  assert.equal(meetsRule(wide, { low: 1024, high: 65535 }), true);
  assert.equal(meetsRule(wide, { low: 5000, high: 60535 }), true, 'as many ports, elsewhere');
  assert.equal(meetsRule(wide, { low: 15000, high: 65535 }), false);
  assert.equal(meetsRule(wide, 5), false);
});

test('flags tcp_fin_timeout 60 for a server and has no opinion for a client', () => {
  assert.equal(row(adviseSysctls(readings(STOCK), 'server'), 'net.ipv4.tcp_fin_timeout').status, 'differs');
  const client = row(adviseSysctls(readings(STOCK), 'client'), 'net.ipv4.tcp_fin_timeout');
  assert.equal(client.status, 'info');
  assert.equal(client.recommended, null);
  assert.match(client.why, /^no opinion/);
});

test('accepts a somaxconn raised above the recommendation and flags the pre-5.4 default of 128', () => {
  assert.equal(
    row(adviseSysctls(readings({ ...STOCK, 'net.core.somaxconn': '65535' }), 'server'), 'net.core.somaxconn').status,
    'ok',
  );
  const old = row(adviseSysctls(readings({ ...STOCK, 'net.core.somaxconn': '128' }), 'server'), 'net.core.somaxconn');
  assert.equal(old.status, 'differs');
  assert.equal(old.recommended, '4096');
});

test('wants tcp_tw_reuse=1 only where the host opens connections, never on a pure server', () => {
  const rows = (p: Profile) => row(adviseSysctls(readings(STOCK), p), 'net.ipv4.tcp_tw_reuse');
  assert.equal(rows('server').status, 'info');
  assert.equal(rows('gateway').status, 'differs');
  assert.equal(rows('gateway').recommended, '1');
  assert.equal(rows('client').recommended, '1');
});

test('reports absent knobs as absent with no current value, explaining global knobs in a namespace', () => {
  const rows = adviseSysctls(
    readings({ ...STOCK, 'net.ipv4.tcp_max_orphans': undefined, 'net.ipv4.tcp_tw_reuse_delay': undefined }),
    'gateway',
  );
  const orphans = row(rows, 'net.ipv4.tcp_max_orphans');
  assert.equal(orphans.status, 'absent');
  assert.equal(orphans.present, false);
  assert.equal(orphans.current, null);
  assert.match(orphans.why, /initial network namespace/);
  assert.match(row(rows, 'net.ipv4.tcp_tw_reuse_delay').why, /not in this kernel.*6\.13/);
});

test('treats a knob left out of the readings as absent', () => {
  const rows = adviseSysctls([], 'server');
  assert.equal(rows.length, SYSCTL_CATALOG.length);
  assert.ok(rows.every((r) => r.status === 'absent'));
});

test('shows fs.* as context only, never with a recommendation', () => {
  for (const profile of PROFILES) {
    for (const name of ['fs.file-max', 'fs.nr_open']) {
      const r = row(report(profile).knobs, name);
      assert.equal(r.status, 'info');
      assert.equal(r.recommended, null);
    }
  }
});

test('flags an open-files soft limit below 65536 and accepts unlimited', () => {
  assert.equal(adviseNofile({ pid: 42, soft: 1024, hard: 4096 }, 'server').status, 'differs');
  assert.equal(adviseNofile({ pid: 42, soft: 1048576, hard: 1048576 }, 'server').status, 'ok');
  assert.equal(adviseNofile({ pid: 'self', soft: 'unlimited', hard: 'unlimited' }, 'client').status, 'ok');
});

test('plans writes only for net.* knobs that differ, with the old values to roll back', () => {
  const plan = planApply(report('gateway'));
  const names = plan.changes.map((c) => c.name);
  assert.ok(names.every((n) => n.startsWith('net.')));
  assert.ok(names.includes('net.ipv4.tcp_tw_reuse'));
  assert.ok(!names.includes('net.core.somaxconn'), 'somaxconn is already ok');
  assert.ok(!names.includes('net.ipv4.tcp_max_tw_buckets'), 'no opinion, no write');
  const range = plan.changes.find((c) => c.name === 'net.ipv4.ip_local_port_range');
  assert.deepEqual(range, { name: 'net.ipv4.ip_local_port_range', from: '32768 60999', to: '10000 65535' });
  assert.ok(plan.rollback.includes("sysctl -w net.ipv4.ip_local_port_range='32768 60999'"));
  assert.ok(plan.rollback.includes('sysctl -w net.ipv4.tcp_tw_reuse=2'));
  assert.equal(plan.rollback.length, plan.changes.length);
});

test('skips a recommended knob that this network namespace does not list, saying why', () => {
  const plan = planApply(report('gateway', { ...STOCK, 'net.core.netdev_max_backlog': undefined }));
  assert.ok(!plan.changes.some((c) => c.name === 'net.core.netdev_max_backlog'));
  const skip = plan.skipped.find((s) => s.name === 'net.core.netdev_max_backlog');
  assert.ok(skip);
  assert.match(skip.reason, /network namespace/);
});

test('plans nothing when every recommendation is met', () => {
  const tuned = Object.fromEntries(
    Object.entries(STOCK).map(([name, raw]) => {
      const rule = SYSCTL_CATALOG.find((k) => k.name === name)?.advice.gateway.rule;
      return [name, rule ? formatSysctlValue(rule.value) : raw];
    }),
  );
  const plan = planApply(report('gateway', tuned));
  assert.deepEqual(plan.changes, []);
  assert.deepEqual(plan.rollback, []);
  assert.match(emitSysctlConf(report('gateway', tuned)), /Nothing to change/);
});

test('emits a sysctl.d file of the differing knobs, each after its reason', () => {
  const text = emitSysctlConf(report('server'));
  const settings = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  // Every non-comment line is name = value, as sysctl.d(5) reads it.
  assert.ok(
    settings.every((l) => /^[a-z0-9_.-]+ = \S.*$/.test(l)),
    settings.join('\n'),
  );
  assert.deepEqual(
    settings.map((l) => l.split(' = ')[0]),
    planApply(report('server')).changes.map((c) => c.name),
  );
  assert.ok(settings.includes('net.ipv4.tcp_fin_timeout = 30'));
  assert.match(text, /# frees the sockets .*\n# \(was 60; kernel default 60\)\nnet\.ipv4\.tcp_fin_timeout = 30/);
  assert.match(text, /# {3}sysctl -w net\.ipv4\.tcp_fin_timeout=60/);
});

test('quotes rollback values a shell would split', () => {
  assert.equal(sysctlWriteCommand('net.ipv4.tcp_fin_timeout', '60'), 'sysctl -w net.ipv4.tcp_fin_timeout=60');
  assert.equal(
    sysctlWriteCommand('net.ipv4.ip_local_reserved_ports', ''),
    "sysctl -w net.ipv4.ip_local_reserved_ports=''",
  );
  assert.equal(
    sysctlWriteCommand('net.ipv4.ip_local_reserved_ports', '8080,9000-9010'),
    'sysctl -w net.ipv4.ip_local_reserved_ports=8080,9000-9010',
  );
});

test('catalog: every knob speaks for every profile, and its values parse in its own format', () => {
  for (const knob of SYSCTL_CATALOG) {
    for (const profile of PROFILES) {
      const { rule, why } = knob.advice[profile];
      assert.ok(why.length > 10, `${knob.name}/${profile} needs a reason`);
      if (rule) assert.deepEqual(parseSysctlValue(knob.shape, formatSysctlValue(rule.value)), rule.value);
      if (knob.scope === 'host') assert.equal(rule, null, `${knob.name} must stay read-only`);
    }
    if (knob.default !== null) assert.doesNotThrow(() => parseSysctlValue(knob.shape, knob.default!));
    assert.ok(knob.default !== null || knob.defaultNote, `${knob.name}: say how the default comes about`);
  }
});

test('catalog: follows the kernel where common advice is wrong', () => {
  const knob = (name: string) => SYSCTL_CATALOG.find((k) => k.name === name)!;
  assert.match(knob('net.ipv4.tcp_fin_timeout').what, /does NOT shorten TIME_WAIT/);
  assert.equal(knob('net.core.somaxconn').default, '4096');
  assert.match(knob('net.ipv4.tcp_max_syn_backlog').what, /only while tcp_syncookies is 0/);
  assert.match(knob('net.ipv4.tcp_tw_reuse').what, /Outgoing connections only.*2 = loopback only/);
  assert.ok(!SYSCTL_CATALOG.some((k) => k.name.includes('tw_recycle')), 'tcp_tw_recycle is gone since 4.12');
  for (const k of SYSCTL_CATALOG) {
    for (const p of PROFILES) assert.doesNotMatch(k.advice[p].why, /tcp_tw_recycle=1|enable tcp_tw_recycle/);
  }
});
