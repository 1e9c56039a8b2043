import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSCTL_CATALOG } from '../../src/analyze/sysctl-catalog.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/sysctl/', import.meta.url));
const isRoot = process.getuid?.() === 0;

// The environment of every spawned tcplens: no colour, and no /proc override unless a test sets one.
function env(procRoot?: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete e.TCPLENS_PROC;
  if (procRoot !== undefined) e.TCPLENS_PROC = procRoot;
  return e;
}

function tcplens(args: string[], procRoot?: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [MAIN, 'sysctl', ...args], { env: env(procRoot), encoding: 'utf8' });
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** A writable copy of a fixture /proc tree, removed by the caller. */
function scratchProc(fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-cli-sysctl-'));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

/** Every readable file under a directory, path → content. */
function snapshotFiles(root: string, keep: (dir: string, name: string) => boolean = () => true): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (keep(dir, entry.name)) walk(path);
        continue;
      }
      try {
        files.set(path, readFileSync(path, 'utf8'));
      } catch {
        // Write-only entries (route/flush) have nothing to compare.
      }
    }
  };
  walk(root);
  return files;
}

/** The host's net.ipv4 and net.core knobs, plus the fs.* knobs tcplens shows. */
function snapshotHostNet(): Map<string, string> {
  // Per-interface entries come and go with other programs' interfaces; all, default and lo stay.
  const keep = (dir: string, name: string) => !/\/(conf|neigh)$/.test(dir) || ['all', 'default', 'lo'].includes(name);
  const files = new Map([...snapshotFiles('/proc/sys/net/ipv4', keep), ...snapshotFiles('/proc/sys/net/core', keep)]);
  for (const f of ['/proc/sys/fs/file-max', '/proc/sys/fs/nr_open']) files.set(f, readFileSync(f, 'utf8'));
  return files;
}

function assertSameFiles(before: Map<string, string>, after: Map<string, string>): void {
  const changed = [...before].filter(([path, value]) => after.has(path) && after.get(path) !== value).map(([p]) => p);
  assert.deepEqual(changed, [], `changed: ${changed.join(', ')}`);
}

function oneErrorLine(r: SpawnSyncReturns<string>): string {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^tcplens: /);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  return lines[0]!;
}

interface JsonKnob {
  name: string;
  present: boolean;
  current: string | null;
  recommended: string | null;
  status: string;
}

test('prints each knob with current, recommended, status and why, and the open-files limit', () => {
  const r = tcplens([], join(FIXTURES, 'host-6.18'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^knob\s+current\s+recommended\s+status\s+why$/m);
  assert.match(r.stdout, /^net\.ipv4\.tcp_fin_timeout\s+60\s+≤ 30\s+differs\s+frees the sockets/m);
  assert.match(r.stdout, /^net\.core\.somaxconn\s+4096\s+≥ 4096\s+ok\s/m);
  assert.match(r.stdout, /^net\.ipv4\.ip_local_port_range\s+32768 60999\s+-\s+info\s+no opinion/m);
  assert.match(r.stdout, /RLIMIT_NOFILE\) of this tcplens process: soft 20,000, hard 20,000/);
  assert.equal(r.stderr, '');
});

test("reports another process's open-files limit with --pid", () => {
  const r = tcplens(['--pid', '4242'], join(FIXTURES, 'host-6.18'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /of pid 4242: soft 1,024, hard 524,288; recommended soft ≥ 65,536: differs/);
});

test('--json follows the documented schema, one row per catalog knob', () => {
  const r = tcplens(['--json', '--profile', 'gateway', '--pid', '4242'], join(FIXTURES, 'host-6.18'));
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { profile: string; kernel: string; knobs: JsonKnob[]; nofile: unknown };
  assert.deepEqual(Object.keys(doc), ['profile', 'kernel', 'knobs', 'nofile']);
  assert.equal(doc.profile, 'gateway');
  assert.deepEqual(
    doc.knobs.map((k) => k.name),
    SYSCTL_CATALOG.map((k) => k.name),
  );
  for (const k of doc.knobs) {
    assert.deepEqual(Object.keys(k), [
      'name',
      'scope',
      'present',
      'current',
      'default',
      'defaultNote',
      'recommended',
      'rule',
      'status',
      'why',
      'what',
    ]);
    assert.ok(['ok', 'differs', 'absent', 'info'].includes(k.status));
  }
  assert.deepEqual(doc.nofile, {
    pid: 4242,
    soft: 1024,
    hard: 524288,
    recommendedMin: 65536,
    status: 'differs',
    why: (doc.nofile as { why: string }).why,
  });
});

test('shows knobs a network namespace does not list as absent, never with a made-up value', () => {
  const r = tcplens(['--json', '--profile', 'gateway'], join(FIXTURES, 'netns-6.1'));
  assert.equal(r.status, 0, r.stderr);
  const knobs = (JSON.parse(r.stdout) as { knobs: JsonKnob[] }).knobs;
  const backlog = knobs.find((k) => k.name === 'net.core.netdev_max_backlog');
  assert.deepEqual(
    { present: backlog?.present, current: backlog?.current, status: backlog?.status },
    { present: false, current: null, status: 'absent' },
  );
});

test('reads an old kernel as it is: somaxconn 128 differs, reserved ports and huge fs values shown verbatim', () => {
  const r = tcplens(['--json'], join(FIXTURES, 'old-4.4'));
  assert.equal(r.status, 0, r.stderr);
  const knobs = (JSON.parse(r.stdout) as { knobs: JsonKnob[] }).knobs;
  const get = (name: string) => knobs.find((k) => k.name === name);
  assert.equal(get('net.core.somaxconn')?.status, 'differs');
  assert.equal(get('net.ipv4.ip_local_reserved_ports')?.current, '8080,9000-9010');
  assert.equal(get('fs.file-max')?.current, '9223372036854775807');
  assert.equal(get('net.ipv4.tcp_tw_reuse_delay')?.status, 'absent');
});

test('--emit prints a sysctl.d file with only the differing net.* recommendations', () => {
  const r = tcplens(['--emit', '--profile', 'gateway'], join(FIXTURES, 'host-6.18'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# \/etc\/sysctl\.d\/90-tcplens-gateway\.conf$/m);
  assert.match(r.stdout, /^net\.ipv4\.tcp_tw_reuse = 1$/m);
  assert.match(r.stdout, /^net\.ipv4\.ip_local_port_range = 10000 65535$/m);
  assert.doesNotMatch(r.stdout, /^fs\./m);
  assert.doesNotMatch(r.stdout, /^net\.core\.somaxconn/m, 'already ok');
});

test('rejects bad input with one line and exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['--profile', 'laptop'], /--profile takes one of server, gateway, client, not 'laptop'/],
    [['--pid', 'abc'], /--pid takes a whole number, not 'abc'/],
    [['--pid', '0'], /--pid must be between 1/],
    [['--dry-run'], /--dry-run goes with --apply/],
    [['--emit', '--apply'], /alternatives/],
    [['--emit', '--json'], /drop --json/],
  ];
  for (const [args, message] of cases) {
    const r = tcplens(args, join(FIXTURES, 'host-6.18'));
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneErrorLine(r), message);
    assert.equal(r.stdout, '');
  }
});

test('a pid with no process is one line and exit 1', () => {
  const r = tcplens(['--pid', '99999'], join(FIXTURES, 'host-6.18'));
  assert.equal(r.status, 1);
  assert.match(oneErrorLine(r), /no process with pid 99999/);
});

test('a missing /proc is one line and exit 1', () => {
  const r = tcplens([], '/nonexistent-tcplens-proc');
  assert.equal(r.status, 1);
  assert.match(oneErrorLine(r), /does not exist: tcplens needs Linux/);
});

test('--help shows examples', () => {
  const r = spawnSync(process.execPath, [MAIN, 'sysctl', '--help'], { env: env(), encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Examples:/);
  assert.match(r.stdout, /--apply/);
});

test('--apply --dry-run shows the changes and the undo commands and writes nothing', () => {
  const root = scratchProc('host-6.18');
  try {
    const before = snapshotFiles(root);
    const r = tcplens(['--apply', '--dry-run', '--profile', 'gateway'], root);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /would change .* gateway profile/);
    assert.match(r.stdout, /net\.ipv4\.tcp_tw_reuse: 2 → 1/);
    assert.match(r.stdout, /sysctl -w net\.ipv4\.ip_local_port_range='32768 60999'/);
    assertSameFiles(before, snapshotFiles(root));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--apply without root refuses in one line and changes nothing', (t) => {
  const root = scratchProc('host-6.18');
  try {
    // World-writable, so that a write that should not happen would succeed and be seen.
    for (const file of snapshotFiles(root).keys()) chmodSync(file, 0o666);
    const dirs = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .flatMap((e) => [join(dir, e.name), ...dirs(join(dir, e.name))]);
    for (const dir of [root, ...dirs(root)]) chmodSync(dir, 0o777);
    const before = snapshotFiles(root);
    let r: SpawnSyncReturns<string>;
    if (!isRoot) {
      r = tcplens(['--apply'], root);
    } else if (hasCommand('setpriv')) {
      r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN, 'sysctl', '--apply'],
        { env: env(root), encoding: 'utf8' },
      );
    } else {
      t.skip('running as root and setpriv is missing: cannot drop privileges');
      return;
    }
    assert.equal(r.status, 1, r.stderr);
    assert.match(oneErrorLine(r), /--apply changes kernel settings and needs root/);
    assert.equal(r.stdout, '');
    assertSameFiles(before, snapshotFiles(root));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--apply writes the differing net.* knobs of a /proc tree, skips absent ones and never fs.*', (t) => {
  if (!isRoot) return t.skip('--apply needs root');
  // A throwaway network namespace as a second fence: even if TCPLENS_PROC were ignored, the
  // writes would land there, not on the host.
  if (!hasCommand('unshare')) return t.skip('unshare (util-linux) is missing');
  const root = scratchProc('netns-6.1');
  try {
    const fsBefore = snapshotFiles(join(root, 'sys/fs'));
    const r = spawnSync(
      'unshare',
      ['--net', process.execPath, MAIN, 'sysctl', '--apply', '--profile', 'gateway', '--json'],
      { env: env(root), encoding: 'utf8' },
    );
    if (r.status !== 0 && /unshare: /.test(r.stderr))
      return t.skip(`cannot create a network namespace: ${r.stderr.trim()}`);
    assert.equal(r.status, 0, r.stderr);
    const apply = (
      JSON.parse(r.stdout) as {
        apply: {
          dryRun: boolean;
          changes: { name: string; to: string; now: string }[];
          skipped: { name: string }[];
          rollback: string[];
        };
      }
    ).apply;
    assert.equal(apply.dryRun, false);
    assert.ok(apply.changes.length > 0);
    for (const c of apply.changes) {
      assert.ok(c.name.startsWith('net.'));
      assert.equal(c.now, c.to);
    }
    assert.equal(readFileSync(join(root, 'sys/net/ipv4/tcp_tw_reuse'), 'utf8'), '1\n');
    assert.equal(readFileSync(join(root, 'sys/net/ipv4/ip_local_port_range'), 'utf8'), '10000 65535\n');
    assert.ok(apply.skipped.some((s) => s.name === 'net.core.netdev_max_backlog'));
    // The undo commands went out before the writes; with --json on stderr.
    assert.match(r.stderr, /sysctl -w net\.ipv4\.tcp_tw_reuse=2/);
    assertSameFiles(fsBefore, snapshotFiles(join(root, 'sys/fs')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--apply inside a fresh network namespace changes it and leaves the host untouched', (t) => {
  if (!isRoot) return t.skip('needs root to create a network namespace');
  if (!hasCommand('ip')) return t.skip('ip (iproute2) is missing');
  const ns = `tcplens-test-${randomBytes(4).toString('hex')}`;
  const hostNs = readlinkSync('/proc/self/ns/net');
  // Runs argv in the namespace, but only after checking that it really is another namespace.
  const inNs = (...argv: string[]) =>
    spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'sh',
        '-c',
        '[ "$(readlink /proc/self/ns/net)" != "$0" ] || exit 99; exec "$@"',
        hostNs,
        ...argv,
      ],
      { env: env(), encoding: 'utf8' },
    );
  const read = (path: string) => {
    const r = inNs('cat', path);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const hostBefore = snapshotHostNet();
  try {
    const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (add.status !== 0) return t.skip(`cannot create a network namespace: ${add.stderr.trim()}`);

    const server = inNs(process.execPath, MAIN, 'sysctl', '--apply', '--profile', 'server');
    assert.notEqual(server.status, 99, 'ip netns exec did not switch namespaces');
    assert.equal(server.status, 0, server.stderr);
    assert.match(server.stdout, /^To undo, run as root/m);
    assert.match(server.stdout, /net\.ipv4\.tcp_fin_timeout: 60 → 30/);
    assert.equal(read('/proc/sys/net/ipv4/tcp_fin_timeout'), '30');
    assert.equal(read('/proc/sys/net/ipv4/tcp_keepalive_time'), '600');
    assert.equal(read('/proc/sys/net/ipv4/tcp_keepalive_intvl'), '30');
    assert.equal(read('/proc/sys/net/ipv4/tcp_keepalive_probes'), '5');

    // A second run finds nothing left to do for the same profile.
    const again = inNs(process.execPath, MAIN, 'sysctl', '--apply', '--profile', 'server', '--json');
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as { apply: { changes: unknown[] } }).apply.changes, []);

    // Gateway: host-wide knobs are not listed in a namespace, so they are skipped and said so.
    const gateway = inNs(process.execPath, MAIN, 'sysctl', '--apply', '--profile', 'gateway', '--json');
    assert.equal(gateway.status, 0, gateway.stderr);
    const apply = (JSON.parse(gateway.stdout) as { apply: { skipped: { name: string; reason: string }[] } }).apply;
    assert.ok(apply.skipped.some((s) => s.name === 'net.core.netdev_max_backlog' && /namespace/.test(s.reason)));
    assert.equal(read('/proc/sys/net/ipv4/tcp_tw_reuse'), '1');
    assert.equal(read('/proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/g, ' '), '10000 65535');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  assertSameFiles(hostBefore, snapshotHostNet());
});
