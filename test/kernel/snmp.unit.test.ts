import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KernelReadError, UnsupportedPlatformError } from '../../src/errors.ts';
import { parseSnmp, readSnmp, readSnmpFile } from '../../src/kernel/snmp.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/counters/', import.meta.url));
const fixture = (name: string) => readFileSync(FIXTURES + name, 'latin1');

// The header lines of a file, as the kernel wrote them: section → field names.
function headers(text: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [section, rest] = line.split(':');
    if (section && rest !== undefined && !seen.has(section)) seen.set(section, rest.trim().split(/\s+/));
  }
  return seen;
}

describe('parseSnmp', () => {
  it('reads every section and field of a real /proc/net/snmp, in the kernel order', () => {
    const text = fixture('proc/net/snmp');
    const { sections, problems } = parseSnmp(text);
    assert.deepEqual(problems, []);
    const expected = headers(text);
    assert.deepEqual(Object.keys(sections), [...expected.keys()]);
    for (const [section, names] of expected) assert.deepEqual(Object.keys(sections[section]!), names, section);
    assert.equal(sections.Tcp?.RtoMin, 200);
    assert.equal(sections.Tcp?.MaxConn, -1, 'MaxConn is printed signed, -1 meaning no limit');
  });

  it('reads every TcpExt, IpExt and MPTcpExt field of a real /proc/net/netstat', () => {
    const text = fixture('proc/net/netstat');
    const { sections, problems } = parseSnmp(text);
    assert.deepEqual(problems, []);
    for (const [section, names] of headers(text))
      assert.equal(Object.keys(sections[section]!).length, names.length, section);
    assert.equal(typeof sections.TcpExt?.ListenOverflows, 'number');
    assert.ok(sections.IpExt!.InOctets! > 0);
  });

  it('keeps fields and sections from a newer kernel that tcplens does not know', () => {
    const { sections, problems } = parseSnmp(fixture('variants/netstat-newer-kernel'));
    assert.deepEqual(problems, []);
    assert.equal(sections.TcpExt?.TCPFromTheFuture, 7);
    assert.deepEqual(sections.FutureExt, { Alpha: 1, Beta: 2 });
  });

  it('skips a section whose value line is missing and keeps the others', () => {
    const { sections, problems } = parseSnmp(fixture('variants/snmp-header-only'));
    assert.deepEqual(sections, {
      Ip: { Forwarding: 1, DefaultTTL: 64, InReceives: 900 },
      Udp: { InDatagrams: 5, NoPorts: 0 },
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^Tcp \(line 3\): header without a value line/);
  });

  it('reads nothing but says why when a file holds only a header', () => {
    const { sections, problems } = parseSnmp(fixture('variants/netstat-header-only'));
    assert.deepEqual(sections, {});
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /TcpExt .*header without a value line/);
  });

  it('skips a section whose header and values differ in length rather than guess', () => {
    const { sections, problems } = parseSnmp(fixture('variants/snmp-mismatch'));
    assert.deepEqual(sections, { Udp: { InDatagrams: 5, NoPorts: 0 } });
    assert.deepEqual(problems, ['Tcp (line 1): 6 names but 5 values; skipped']);
  });

  it('keeps negative values as negative numbers', () => {
    const { sections } = parseSnmp(fixture('variants/snmp-negative'));
    assert.deepEqual(sections.Tcp, { RtoAlgorithm: 1, RtoMin: 200, RtoMax: 120000, MaxConn: -1, ActiveOpens: -5 });
  });

  it('skips lines that make no sense, one problem each, and never pollutes Object.prototype', () => {
    const { sections, problems } = parseSnmp(fixture('variants/snmp-garbage'));
    assert.deepEqual(sections, { Udp: { InDatagrams: 5, InErrors: 2 } });
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems[0]!, /line 1: expected 'Section: …'/);
    assert.match(problems[1]!, /Tcp \(line 2\): values without a header line/);
    assert.match(problems[2]!, /'__proto__' is not a section name/);
    assert.match(problems[4]!, /Udp\.NoPorts \(line 6\): 'x' is not a number/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('reads an empty text as no sections and no problems', () => {
    assert.deepEqual(parseSnmp(''), { sections: {}, problems: [] });
    assert.deepEqual(parseSnmp('\n\n'), { sections: {}, problems: [] });
  });
});

describe('readSnmp', () => {
  it('merges /proc/net/snmp and /proc/net/netstat under one proc root', () => {
    const { sections, problems } = readSnmp(`${FIXTURES}proc`);
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.keys(sections), [
      ...headers(fixture('proc/net/snmp')).keys(),
      ...headers(fixture('proc/net/netstat')).keys(),
    ]);
  });

  it('reports a missing file as the platform lacking /proc, naming the path', () => {
    assert.throws(
      () => readSnmp('/nonexistent-proc'),
      (err) =>
        err instanceof UnsupportedPlatformError && err.message.startsWith('/nonexistent-proc/net/snmp does not exist'),
    );
  });

  it('refuses a file with no readable section, saying what was wrong with it', () => {
    assert.throws(
      () => readSnmpFile(`${FIXTURES}variants/netstat-header-only`),
      (err) => err instanceof KernelReadError && /has no counters tcplens can read: TcpExt/.test(err.message),
    );
  });

  it('prefixes each problem with the file it came from', () => {
    const path = `${FIXTURES}variants/snmp-mismatch`;
    assert.deepEqual(readSnmpFile(path).problems, [`${path}: Tcp (line 1): 6 names but 5 values; skipped`]);
  });
});
