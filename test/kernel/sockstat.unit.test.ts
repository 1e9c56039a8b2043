import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UnsupportedPlatformError } from '../../src/errors.ts';
import { parseSockstat, readSockstat } from '../../src/kernel/sockstat.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/counters/', import.meta.url));
const fixture = (name: string) => readFileSync(FIXTURES + name, 'latin1');

describe('parseSockstat', () => {
  it('reads every line of a real /proc/net/sockstat as name/value pairs', () => {
    const { sections, problems } = parseSockstat(fixture('proc/net/sockstat'));
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.keys(sections), ['sockets', 'TCP', 'UDP', 'UDPLITE', 'RAW', 'FRAG']);
    assert.deepEqual(Object.keys(sections.TCP!), ['inuse', 'orphan', 'tw', 'alloc', 'mem']);
    assert.deepEqual(Object.keys(sections.FRAG!), ['inuse', 'memory']);
    assert.equal(typeof sections.sockets?.used, 'number');
  });

  it('reads a real /proc/net/sockstat6 with its own section names', () => {
    const { sections, problems } = parseSockstat(fixture('proc/net/sockstat6'));
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.keys(sections), ['TCP6', 'UDP6', 'UDPLITE6', 'RAW6', 'FRAG6']);
    assert.deepEqual(Object.keys(sections.TCP6!), ['inuse']);
  });

  it('keeps the pairs of a line that make sense and names the ones that do not', () => {
    const { sections, problems } = parseSockstat(fixture('variants/sockstat-odd'));
    assert.deepEqual(sections, {
      sockets: { used: 11 },
      TCP: { inuse: 5, orphan: 0, tw: 3, alloc: 7 },
      UDP: { mem: 0 },
    });
    assert.deepEqual(problems, [
      'TCP.mem (line 2): no value; skipped',
      "UDP.inuse (line 3): 'two' is not a number; skipped",
      "line 4: expected 'PROTO: name value …', got 'no colon here'",
    ]);
  });
});

describe('readSockstat', () => {
  it('puts IPv4 and IPv6 lines side by side', () => {
    const { sections, problems } = readSockstat(`${FIXTURES}proc`);
    assert.deepEqual(problems, []);
    assert.ok(sections.TCP && sections.TCP6, 'both TCP and TCP6');
    assert.equal(Object.keys(sections).length, 11);
  });

  it('reads IPv4 alone when the kernel has no sockstat6 (IPv6 disabled)', () => {
    const root = mkdtempSync(join(tmpdir(), 'tcplens-sockstat-'));
    try {
      mkdirSync(join(root, 'net'));
      copyFileSync(`${FIXTURES}proc/net/sockstat`, join(root, 'net', 'sockstat'));
      const { sections, problems } = readSockstat(root);
      assert.deepEqual(problems, []);
      assert.deepEqual(Object.keys(sections), ['sockets', 'TCP', 'UDP', 'UDPLITE', 'RAW', 'FRAG']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports a missing sockstat as the platform lacking /proc, naming the path', () => {
    assert.throws(
      () => readSockstat('/nonexistent-proc'),
      (err) =>
        err instanceof UnsupportedPlatformError &&
        err.message.startsWith('/nonexistent-proc/net/sockstat does not exist'),
    );
  });
});
