import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelReadError, UnsupportedPlatformError, UsageError } from '../../src/errors.ts';
import {
  assertSysctlRoot,
  formatSysctlValue,
  normalizeSysctlText,
  parsePortList,
  parsePortRange,
  parseSysctlInt,
  parseSysctlValue,
  portCount,
  readSysctl,
  sysctlPath,
  writeSysctls,
} from '../../src/kernel/sysctl.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sysctl/', import.meta.url));

test('reads a single integer as the kernel prints it, newline and all', () => {
  assert.equal(parseSysctlInt('4096\n'), 4096);
  assert.equal(parseSysctlInt('  -1\n'), -1);
});

test('refuses text that is not one whole number instead of guessing', () => {
  assert.throws(() => parseSysctlInt('4096 1'), KernelReadError);
  assert.throws(() => parseSysctlInt(''), KernelReadError);
  assert.throws(() => parseSysctlInt('12abc'), KernelReadError);
});

test('reads a tab-separated port range such as ip_local_port_range', () => {
  assert.deepEqual(parsePortRange('32768\t60999\n'), { low: 32768, high: 60999 });
  assert.deepEqual(parsePortRange('1024 65535'), { low: 1024, high: 65535 });
  assert.equal(portCount({ low: 32768, high: 60999 }), 28232);
});

test('refuses port ranges that run backwards, leave the port space or have one end', () => {
  assert.throws(() => parsePortRange('60999\t32768'), KernelReadError);
  assert.throws(() => parsePortRange('1\t70000'), KernelReadError);
  assert.throws(() => parsePortRange('32768'), KernelReadError);
});

test('reads a comma list of ports and ranges such as ip_local_reserved_ports, empty included', () => {
  assert.deepEqual(parsePortList('8080,9000-9010\n'), [
    { low: 8080, high: 8080 },
    { low: 9000, high: 9010 },
  ]);
  assert.deepEqual(parsePortList('\n'), []);
  assert.throws(() => parsePortList('8080,http'), KernelReadError);
  assert.throws(() => parsePortList('9010-9000'), KernelReadError);
});

test('writes each shape back in the text sysctl(8) prints, so a parse of it gives the same value', () => {
  for (const [shape, raw, text] of [
    ['int', '60\n', '60'],
    ['range', '32768\t60999\n', '32768 60999'],
    ['ports', '8080,9000-9010\n', '8080,9000-9010'],
    ['ports', '\n', ''],
  ] as const) {
    const value = parseSysctlValue(shape, raw);
    assert.equal(formatSysctlValue(value), text);
    assert.deepEqual(parseSysctlValue(shape, formatSysctlValue(value)), value);
  }
  assert.equal(normalizeSysctlText('32768\t \t60999\n'), '32768 60999');
});

test('maps dotted names under /proc/sys and refuses names that could leave it', () => {
  assert.equal(sysctlPath('net.ipv4.tcp_fin_timeout', '/proc'), '/proc/sys/net/ipv4/tcp_fin_timeout');
  assert.equal(sysctlPath('fs.file-max', '/x'), '/x/sys/fs/file-max');
  assert.throws(() => sysctlPath('net/../../etc/passwd', '/proc'), UsageError);
  assert.throws(() => sysctlPath('net..ipv4', '/proc'), UsageError);
  assert.throws(() => sysctlPath('somaxconn', '/proc'), UsageError);
});

test('reports a knob this namespace does not list as absent rather than inventing a value', () => {
  const root = join(FIXTURES, 'netns-6.1');
  assert.deepEqual(readSysctl('net.ipv4.tcp_max_orphans', root), { name: 'net.ipv4.tcp_max_orphans', present: false });
  assert.deepEqual(readSysctl('net.core.somaxconn', root), {
    name: 'net.core.somaxconn',
    present: true,
    raw: '4096\n',
  });
});

test('says the platform lacks /proc when there is no /proc/sys at all', () => {
  assert.throws(() => assertSysctlRoot('/nonexistent-tcplens-proc'), UnsupportedPlatformError);
  assert.doesNotThrow(() => assertSysctlRoot(join(FIXTURES, 'host-6.18')));
});

function scratchProc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-sysctl-'));
  cpSync(join(FIXTURES, 'host-6.18'), dir, { recursive: true });
  return dir;
}

test('writes knobs in order and reads each back', () => {
  const root = scratchProc();
  try {
    const done = writeSysctls(
      [
        { name: 'net.ipv4.tcp_fin_timeout', from: '60', to: '30' },
        { name: 'net.ipv4.ip_local_port_range', from: '32768 60999', to: '10000 65535' },
      ],
      root,
    );
    assert.deepEqual(
      done.map((d) => d.now),
      ['30', '10000 65535'],
    );
    assert.equal(readFileSync(join(root, 'sys/net/ipv4/tcp_fin_timeout'), 'utf8'), '30\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('puts back the knobs already written when a later write fails', () => {
  const root = scratchProc();
  try {
    // A directory where a knob should be makes the second write fail.
    mkdirSync(join(root, 'sys/net/ipv4/tcp_broken'));
    assert.throws(
      () =>
        writeSysctls(
          [
            { name: 'net.ipv4.tcp_fin_timeout', from: '60', to: '30' },
            { name: 'net.ipv4.tcp_broken', from: '1', to: '2' },
          ],
          root,
        ),
      (err: unknown) => err instanceof KernelReadError && /restored net\.ipv4\.tcp_fin_timeout/.test(err.message),
    );
    assert.equal(readFileSync(join(root, 'sys/net/ipv4/tcp_fin_timeout'), 'utf8'), '60\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
