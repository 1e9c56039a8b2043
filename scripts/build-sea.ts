// `npm run build:sea`: tcplens as one executable for Linux x64 that needs no Node on the host
// (Node's single executable applications: a preparation blob injected into a copy of node with postject).
//
// What goes in: scripts/sea-bootstrap.cjs as the main script, and one asset holding the tree the npm
// package runs from (package.json, dist/ with the dashboard's page, the production node_modules,
// examples/ and the src/ they import for the lab's E9). At run time the bootstrap unpacks that tree
// once into a cache directory and runs dist/cli/main.js from it; see the bootstrap for why.
//
// Native addons (a .node file, such as koffi's): nothing to do but depend on the package. Its files
// come with node_modules, and its own loader finds the binary on disk after unpacking, because
// process.dlopen() needs a file, which is why the tree is unpacked rather than read from memory.
// Only the binaries for this platform are kept: a directory named for another platform and
// architecture (darwin_arm64, win32-x64, linux_arm64, musl_x64, ...) is left out, see isForeignBuild.
// After adding such a dependency, check that `tcplens-linux-x64 --version` still runs and that the
// command using it works from the executable (test/sea/single-executable.test.ts runs them).
//
// Another architecture (--arch arm64 on an x64 host): the blob carries no code cache or snapshot, so
// it runs on any architecture; it goes into Node's official binary for that architecture, of the
// same version, taken from the npm package node-linux-<arch> (what the npm package `node` installs),
// and the tree keeps that architecture's native binaries. Checked under qemu-user (test/sea).
//
// Usage: node scripts/build-sea.ts [--arch x64|arm64] [--out FILE] [--no-strip]   (default build/tcplens-linux-<arch>)

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { constants as zlibConstants, brotliCompressSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..');
export const DEFAULT_SEA_PATH = join(ROOT, 'build', `tcplens-linux-${process.arch}`);
/** The fuse Node's binary carries; postject flips it so node looks for the injected blob. */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Packages the lab's E9 example needs beyond the production dependencies. */
const EXAMPLE_PACKAGES = ['opossum'];

interface TreeFile {
  path: string;
  mode: number;
  size: number;
  abs: string;
}

const PLATFORM_DIR =
  /^(linux|linuxmusl|musl|darwin|macos|win32|windows|freebsd|openbsd|android)[-_](x64|x86_64|amd64|arm64|aarch64|arm|armhf|ia32|x86|riscv64\w*|loong64|ppc64\w*|s390x)$/i;

/**
 * A directory of prebuilt binaries for another platform or architecture than the one built for.
 * musl builds are foreign too: the node inside the executable is linked against glibc.
 */
export function isForeignBuild(
  relPath: string,
  platform: string = process.platform,
  arch: string = process.arch,
): boolean {
  return relPath.split(/[\\/]/).some((part) => {
    if (!PLATFORM_DIR.test(part)) return false;
    const lower = part.toLowerCase();
    return lower !== `${platform}_${arch}` && lower !== `${platform}-${arch}`;
  });
}

function walk(dir: string, keep: (rel: string) => boolean, out: TreeFile[], base = ROOT): TreeFile[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const abs = join(dir, e.name);
    const rel = relative(base, abs).split(sep).join('/');
    if (!keep(rel)) continue;
    if (e.isDirectory()) walk(abs, keep, out, base);
    else if (e.isFile()) {
      const st = statSync(abs);
      out.push({ path: rel, mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size, abs });
    }
  }
  return out;
}

/** Where node would find package `name` from `fromDir`: the nearest node_modules/<name> up the tree. */
function installedPackage(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === ROOT || dirname(dir) === dir) return undefined;
  }
}

/**
 * Production dependencies, as npm resolved them (hoisted or nested): `dependencies` and the installed
 * `optionalDependencies` of the package and of each of them, transitively. Peer dependencies are
 * left out: an optional one (valibot's typescript) is installed here only as our own devDependency.
 */
function productionPackages(): string[] {
  const dirs = new Set<string>();
  const visit = (fromDir: string, names: readonly string[]) => {
    for (const name of names) {
      const dir = installedPackage(fromDir, name);
      if (!dir || dirs.has(dir)) continue; // not installed: an optional dependency for another platform
      dirs.add(dir);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        dependencies?: object;
        optionalDependencies?: object;
      };
      visit(dir, [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
    }
  };
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: object };
  visit(ROOT, [...Object.keys(root.dependencies ?? {}), ...EXAMPLE_PACKAGES]);
  return [...dirs];
}

export function collectTree(arch: string = process.arch): TreeFile[] {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(join(ROOT, 'dist', 'web', 'index.html'))) {
    throw new Error('dist/ is not built: run npm run build first (npm run build:sea does)');
  }
  const files: TreeFile[] = [];
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const manifest = JSON.stringify(
    { name: pkg.name, version: pkg.version, type: pkg.type, bin: pkg.bin, exports: pkg.exports },
    null,
    2,
  );
  const manifestPath = join(ROOT, 'build', 'sea', 'package.json');
  mkdirSync(dirname(manifestPath), { recursive: true });
  writeFileSync(manifestPath, manifest + '\n');
  files.push({ path: 'package.json', mode: 0o644, size: Buffer.byteLength(manifest) + 1, abs: manifestPath });
  walk(join(ROOT, 'dist'), (rel) => !rel.endsWith('.map') && !rel.endsWith('.d.ts'), files);
  walk(join(ROOT, 'examples'), () => true, files);
  walk(join(ROOT, 'src'), (rel) => !rel.endsWith('.d.ts'), files);
  for (const dir of productionPackages()) {
    // A package of prebuilt binaries named for this host (@koromix/koffi-linux-x64) stands for the
    // same package built for the target (@koromix/koffi-linux-arm64), which npm did not install here.
    const hostSuffix = `-linux-${process.arch}`;
    if (arch !== process.arch && dir.endsWith(hostSuffix)) {
      const rel = relative(ROOT, dir).split(sep).join('/');
      const { name, version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
      };
      const target = foreignPackage(`${name.slice(0, -hostSuffix.length)}-linux-${arch}`, version);
      walk(target, (r) => !isForeignBuild(r, 'linux', arch), files, target);
      for (const f of files)
        if (f.abs.startsWith(target + sep)) f.path = `${rel.slice(0, -hostSuffix.length)}-linux-${arch}/${f.path}`;
      continue;
    }
    walk(
      dir,
      (rel) =>
        !isForeignBuild(rel, 'linux', arch) &&
        !rel.endsWith('.map') &&
        !rel.endsWith('.d.ts') &&
        !/\/(test|tests|docs?|\.github)\//.test(`/${rel.slice(rel.lastIndexOf('node_modules/') + 13)}/`),
      files,
    );
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  return files;
}

/** The tree as one buffer: a JSON index line, then every file's bytes in index order. */
export function packTree(files: TreeFile[]): Buffer {
  const index = JSON.stringify({ files: files.map(({ path, mode, size }) => ({ path, mode, size })) });
  return Buffer.concat([Buffer.from(index + '\n'), ...files.map((f) => readFileSync(f.abs))]);
}

const ARCHES: Record<string, { strip: string }> = {
  x64: { strip: 'strip' },
  arm64: { strip: 'aarch64-linux-gnu-strip' },
};

/** An npm package fetched once into build/sea/ (npm pack from the registry) and unpacked; its directory. */
function foreignPackage(name: string, version: string): string {
  const dir = join(ROOT, 'build', 'sea', 'foreign', `${name.replace('/', '+')}@${version}`);
  if (existsSync(join(dir, 'package', 'package.json'))) return join(dir, 'package');
  mkdirSync(dir, { recursive: true });
  let tgz: string;
  try {
    tgz = execFileSync('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .trim()
      .split('\n')
      .at(-1)!;
  } catch (err) {
    throw new Error(
      `cannot fetch ${name}@${version} from the npm registry: ${((err as { stderr?: string }).stderr ?? String(err)).trim().split('\n')[0]}`,
    );
  }
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  return join(dir, 'package');
}

/**
 * Node's official binary for `arch`, of the running version: this node for its own architecture,
 * else bin/node of the npm package node-linux-<arch>, fetched once into build/sea/.
 */
function nodeFor(arch: string): string {
  if (arch === process.arch) return realpathSync(process.execPath);
  return join(foreignPackage(`node-linux-${arch}`, process.versions.node), 'bin', 'node');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      arch: { type: 'string', default: process.arch },
      'no-strip': { type: 'boolean' },
    },
  });
  const arch = values.arch!;
  const tools = ARCHES[arch];
  if (!tools) throw new Error(`--arch ${arch}: the executable is built for ${Object.keys(ARCHES).join(' or ')}`);
  const out = resolve(values.out ?? join(ROOT, 'build', `tcplens-linux-${arch}`));
  const work = join(ROOT, 'build', 'sea');
  mkdirSync(work, { recursive: true });
  mkdirSync(dirname(out), { recursive: true });
  if (process.platform !== 'linux')
    throw new Error(`the single executable is built on Linux for Linux; this is ${process.platform}`);
  if (Number(process.versions.node.split('.')[0]) < 24)
    throw new Error(`build with the pinned Node 24 (npm run build:sea), not ${process.version}`);

  const started = Date.now();
  const files = collectTree(arch);
  const raw = packTree(files);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const id = `${version}-${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
  const compressed = brotliCompressSync(raw, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 9,
      [zlibConstants.BROTLI_PARAM_LGWIN]: 24,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  writeFileSync(join(work, 'tree.br'), compressed);
  writeFileSync(join(work, 'tree.id'), id + '\n');

  const config = {
    main: join(ROOT, 'scripts', 'sea-bootstrap.cjs'),
    output: join(work, 'sea-prep.blob'),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    assets: { 'tree.br': join(work, 'tree.br'), 'tree.id': join(work, 'tree.id') },
  };
  writeFileSync(join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
  execFileSync(realpathSync(process.execPath), ['--experimental-sea-config', join(work, 'sea-config.json')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const node = nodeFor(arch);

  // The copy of node is written beside the output and renamed at the end: a failed build never
  // leaves a half-injected executable under the final name.
  const tmp = `${out}.tmp`;
  copyFileSync(node, tmp);
  chmodSync(tmp, 0o755);
  // Node's release binary carries its debug symbols and static symbol table; the executable needs
  // neither (native addons link against the dynamic symbol table, which strip keeps).
  if (!values['no-strip']) {
    try {
      execFileSync(tools.strip, ['--strip-all', tmp], { stdio: 'ignore' });
    } catch {
      process.stderr.write(
        `build-sea: ${tools.strip} is missing (binutils${arch === process.arch ? '' : `-${tools.strip.replace(/-strip$/, '')}`}): the executable keeps node's symbols\n`,
      );
    }
  }
  // postject's own log lines are noise here; its failure still throws.
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js'),
      tmp,
      'NODE_SEA_BLOB',
      config.output,
      '--sentinel-fuse',
      FUSE,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  execFileSync('mv', ['-f', tmp, out]);
  // The file just written sits in the page cache as written (large folios), and a process then maps
  // whole folios of it at each fault: about 12 MiB more resident than the same pages read from disk.
  // Dropping this file's cached pages (GNU dd: nocache, no data copied) makes the first run read it
  // as any installed binary is read.
  try {
    execFileSync('dd', [`if=${out}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
  } catch {
    // Not GNU dd: the executable only costs more memory until its pages leave the cache.
  }
  const size = statSync(out).size;
  process.stdout.write(
    `${out}: ${(size / 2 ** 20).toFixed(1)} MiB (node ${process.versions.node} ${arch}, ${files.length} files, tree ${(raw.length / 2 ** 20).toFixed(1)} MiB → ${(compressed.length / 2 ** 20).toFixed(1)} MiB), ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

if (import.meta.main) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`build-sea: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
