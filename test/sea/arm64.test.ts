// The single executable for Linux arm64, built on this x64 host (scripts/build-sea.ts --arch arm64)
// and run under qemu-user with Debian's arm64 C and C++ libraries: no node of its own architecture,
// an empty directory and nothing in the environment but PATH and HOME.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const SEA = join(ROOT, 'build', 'tcplens-linux-arm64');
const SYSROOT = '/usr/aarch64-linux-gnu';

function whyNot(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `arm64 is cross-built on Linux x64; this is ${process.platform} ${process.arch}`;
  if (spawnSync('qemu-aarch64', ['--version']).status !== 0)
    return 'qemu-aarch64 is missing (apt-get install -y qemu-user)';
  if (!existsSync(join(SYSROOT, 'lib', 'libstdc++.so.6')))
    return 'the arm64 C++ library is missing (apt-get install -y libc6-arm64-cross libstdc++6-arm64-cross)';
  return undefined;
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Built by CI before the tests; rebuilt here when a source is newer (the build fetches arm64 node from npm). */
function ensureBuilt(): void {
  const sources = Math.max(
    newestMtimeMs(join(ROOT, 'src')),
    newestMtimeMs(join(ROOT, 'scripts')),
    statSync(join(ROOT, 'package-lock.json')).mtimeMs,
  );
  if (existsSync(SEA) && statSync(SEA).mtimeMs > sources) return;
  execFileSync('npm', ['run', 'build:sea:arm64'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
}

const reason = whyNot();

describe('single executable for arm64, under qemu-user', { skip: reason }, () => {
  let dir = '';
  before(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tcplens-arm64-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The executable under qemu, asynchronously (a server in this process must keep answering). */
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolveRun, reject) => {
      const child = spawn('qemu-aarch64', ['-L', SYSROOT, SEA, ...args], {
        cwd: dir,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 240_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    });
  }

  it('is an arm64 ELF file that prints the package version', async () => {
    const head = readFileSync(SEA).subarray(0, 20);
    assert.equal(head.readUInt16LE(18), 183, 'e_machine EM_AARCH64');
    const r = await run(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('counts sockets with its arm64 koffi loaded, listeners as ss counts them', async () => {
    const listeners = () => execFileSync('ss', ['-ltnH'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
    const low = listeners();
    const r = await run(['sockets', '--summary', '--json']);
    const high = listeners();
    assert.equal(r.code, 0, r.stderr);
    // qemu-user refuses NETLINK_SOCK_DIAG sockets: the reader falls back to /proc and says why in
    // one line. The reason must be netlink's, never that the FFI module could not load.
    assert.doesNotMatch(r.stderr, /koffi/, r.stderr);
    const out = JSON.parse(r.stdout) as { source: string; summary: { total: number; byState: { LISTEN: number } } };
    assert.ok(out.summary.total > 0);
    const seen = out.summary.byState.LISTEN;
    assert.ok(seen >= Math.min(low, high) && seen <= Math.max(low, high), `LISTEN ${seen}, ss ${low}..${high}`);
  });

  it('runs a bench against a local server: every request answered', async () => {
    const server: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    let served = 0;
    server.on('request', () => served++);
    try {
      const r = await run(['bench', `http://127.0.0.1:${port}/`, '-n', '200', '-c', '2', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { requests: { total: number; ok: number } };
      assert.equal(result.requests.ok, 200, r.stdout.slice(0, 400));
      assert.equal(served, 200);
    } finally {
      server.close();
    }
  });
});
