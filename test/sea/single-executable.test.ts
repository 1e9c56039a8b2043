// The single executable runs every kind of command on a host view where no node and no
// node_modules exist: workers, cluster processes, the lab's child scripts, the dashboard's files,
// bpftrace, ss and ip, from an empty directory with nothing in the environment but PATH.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const SEA = join(ROOT, 'build', `tcplens-linux-${process.arch}`);
const isRoot = process.getuid?.() === 0;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Why the executable cannot be built or tried here, or undefined. */
function whyNot(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `the single executable is built for Linux x64; this is ${process.platform} ${process.arch}`;
  if (!isRoot) return 'hiding node needs a mount namespace (unshare -m), which needs root';
  if (spawnSync('unshare', ['--version']).status !== 0) return 'unshare (util-linux) is missing';
  if (spawnSync('curl', ['--version']).status !== 0) return 'curl is missing';
  return undefined;
}

/** The executable from `npm run build:sea`, rebuilt when a source is newer than it (CI builds it before the tests). */
function ensureBuilt(): void {
  const sources = Math.max(
    newestMtimeMs(join(ROOT, 'src')),
    newestMtimeMs(join(ROOT, 'scripts')),
    newestMtimeMs(join(ROOT, 'web')),
    statSync(join(ROOT, 'package-lock.json')).mtimeMs,
  );
  if (existsSync(SEA) && statSync(SEA).mtimeMs > sources) return;
  execFileSync('npm', ['run', 'build:sea'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
}

/** Every node binary and node_modules directory a command could fall back on, to hide. */
function nodePaths(): string[] {
  const found = new Set<string>([ROOT, process.execPath]);
  const path = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/node/bin`;
  for (const dir of path.split(':').filter(Boolean)) {
    for (const name of ['node', 'nodejs']) if (existsSync(join(dir, name))) found.add(join(dir, name));
  }
  const r = spawnSync(
    'find',
    [
      '/work',
      '/usr',
      '/opt',
      '/home',
      '/srv',
      '-xdev',
      '-maxdepth',
      '5',
      '(',
      '-name',
      'node_modules',
      '-o',
      '-name',
      'nodejs',
      ')',
      '-type',
      'd',
      '-prune',
      '-print',
    ],
    { encoding: 'utf8' },
  );
  for (const line of r.stdout.split('\n')) if (line) found.add(line);
  return [...found];
}

const reason = whyNot();

describe('single executable on a host without node', { skip: reason }, () => {
  let dir = '';
  let out = '';
  const read = (name: string) => readFileSync(join(out, name), 'utf8');
  const rc = (name: string) => Number(read(`${name}.rc`).trim());
  const json = (name: string) => JSON.parse(read(`${name}.out`)) as Record<string, unknown>;
  const ok = (name: string) => assert.equal(rc(name), 0, `${name} exited ${rc(name)}: ${read(`${name}.err`)}`);

  before(
    () => {
      ensureBuilt();
      dir = mkdtempSync(join(tmpdir(), 'tcplens-sea-'));
      out = join(dir, 'out');
      execFileSync('mkdir', [out]);
      const bin = join(dir, 'tcplens');
      copyFileSync(SEA, bin);
      execFileSync('chmod', ['755', bin]);
      for (const f of ['no-node-view.sh', 'no-node-steps.sh']) copyFileSync(join(import.meta.dirname, f), join(dir, f));
      const r = spawnSync(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'bash',
          join(dir, 'no-node-view.sh'),
          join(dir, 'no-node-steps.sh'),
          out,
          bin,
          '--',
          ...nodePaths(),
        ],
        { encoding: 'utf8', timeout: 170_000 },
      );
      assert.equal(r.status, 0, `the host view failed: ${r.stderr}`);
    },
    { timeout: 480_000 },
  );

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs in an empty directory with only PATH set and no node to find', () => {
    const view = read('view.out');
    assert.match(view, /entries=0\b/);
    assert.match(view, /env=(PATH |PWD |SHLVL |_ |OLDPWD )+\n/);
    assert.doesNotMatch(view, /runs/, 'a node binary still runs');
  });

  it('prints its version', () => {
    ok('version');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(read('version.out').trim(), pkg.version);
  });

  it('serves with two cluster workers, shows the listener as ss does, and shuts down on Ctrl-C', () => {
    const port = Number(read('serve.port').trim());
    assert.ok(port > 0, `serve printed no port: ${read('serve.err')}`);
    ok('sockets');
    const { summary } = json('sockets') as { summary: { listeners: { local: { port: number } }[] } };
    const ours = summary.listeners.filter((l) => l.local.port === port);
    const ssListeners = read('ss-listen.out')
      .split('\n')
      .filter((l) => new RegExp(`:${port}\\s`).test(l)).length;
    assert.ok(ours.length >= 1, `no listener on ${port} in ${read('sockets.out').slice(0, 400)}`);
    assert.equal(ours.length, ssListeners, 'sockets and ss disagree on the listeners of the port');
    assert.equal(rc('serve'), 0, read('serve.err'));
    assert.match(read('serve.out'), /"shutdown"/);
  });

  it("reads sockets through a native addon unpacked from the executable, when the package depends on one (koffi's netlink reader)", {
    skip:
      !(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> })
        .dependencies.koffi && 'no native addon among the dependencies',
  }, () => {
    ok('sockets');
    const s = json('sockets') as { source?: string; fallback?: string };
    assert.equal(s.source, 'netlink', `read ${s.source}: ${s.fallback ?? read('sockets.err')}`);
  });

  it('diagnoses the host', () => {
    ok('doctor');
    const d = json('doctor');
    assert.ok(Array.isArray(d.findings));
    assert.equal(d.root, true);
  });

  it('loads the server with two worker threads and samples the kernel in its footprint worker', () => {
    ok('bench');
    const b = json('bench') as { requests: { total: number; ok: number }; workers: number; kernel: unknown };
    assert.equal(b.requests.total, 500);
    assert.equal(b.requests.ok, 500);
    assert.equal(b.workers, 2);
    assert.ok(b.kernel && typeof b.kernel === 'object', 'no kernel footprint');
  });

  it("serves the dashboard's page and its script", () => {
    ok('dashboard-index');
    assert.match(read('dashboard-index.out'), /<script[^>]+src="\.?\/assets\/[^"]+\.js"/);
    ok('dashboard-script');
    const [status, size] = read('dashboard-script.out').split(' ');
    assert.equal(status, '200');
    assert.ok(Number(size) > 1000);
  });

  it('exports metrics', () => {
    ok('metrics');
    assert.match(read('metrics.out'), /^tcplens_sockets\{state="LISTEN",family="ipv4"\} [1-9]/m);
  });

  it('runs the lab experiment E1 in network namespaces with its child scripts', () => {
    ok('lab');
    const lab = json('lab') as {
      root: boolean;
      experiments: { id: string; skipped: unknown[]; rows: unknown[]; conclusion: string }[];
    };
    const e1 = lab.experiments[0]!;
    assert.equal(e1.id, 'E1');
    assert.equal(lab.root, true);
    assert.deepEqual(e1.skipped, [], JSON.stringify(e1.skipped));
    assert.ok(e1.rows.length > 0);
    assert.match(e1.conclusion, /close mode left [\d,]+ client TIME_WAIT/);
  });

  it('runs from a read-only cache that already holds its files', () => {
    ok('readonly');
    assert.equal(existsSync(join(out, 'readonly.note')), false, 'the cache was not read-only');
    assert.equal(read('readonly.out'), read('version.out'));
  });

  it('without root and with --no-fallback behaves as the npm package does: same exit code, same lines', {
    skip: !existsSync(join(ROOT, 'dist', 'cli', 'main.js')) && 'dist/ is not built',
  }, () => {
    const cache = mkdtempSync(join(tmpdir(), 'tcplens-sea-nobody-'));
    try {
      execFileSync('chown', ['65534:65534', cache]);
      const asNobody = (argv: string[]) =>
        spawnSync(
          'setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            'env',
            '-i',
            'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
            `TCPLENS_CACHE_DIR=${cache}`,
            ...argv,
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
      for (const args of [
        ['trace', '--duration', '1', '--no-fallback'],
        ['sysctl', '--apply'],
      ]) {
        const sea = asNobody([SEA, ...args]);
        const npm = asNobody([process.execPath, join(ROOT, 'dist', 'cli', 'main.js'), ...args]);
        assert.ok(sea.status !== 0, `${args.join(' ')} fails without root`);
        assert.equal(sea.status, npm.status, args.join(' '));
        assert.equal(sea.stderr, npm.stderr, args.join(' '));
        assert.match(sea.stderr, /^tcplens: [^\n]+\n$/);
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('says in one line that a kernel older than Node 24 supports is not supported', {
    skip: spawnSync('setarch', ['--help']).status !== 0 && 'setarch is missing',
  }, () => {
    const r = spawnSync(
      'setarch',
      [process.arch === 'x64' ? 'x86_64' : process.arch, '--uname-2.6', SEA, '--version'],
      { encoding: 'utf8', env: { PATH: process.env.PATH } },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^tcplens: this executable needs Linux 4\.18 or newer; this kernel is 2\.6\.[^\n]*\n$/);
  });

  it('traces through bpftrace as root', {
    skip: spawnSync('bpftrace', ['--version']).status !== 0 && 'bpftrace is missing',
  }, () => {
    assert.equal(rc('trace'), 0, read('trace.err'));
    const lines = read('trace.out')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type?: string; backend?: string; events?: Record<string, number> });
    assert.equal(lines[0]?.type, 'start');
    assert.equal(lines[0]?.backend, 'bpftrace');
    const summary = lines.at(-1)!;
    assert.equal(summary.type, 'summary');
    assert.ok(lines.length > 2, 'no events for three requests to the traced port');
  });
});
