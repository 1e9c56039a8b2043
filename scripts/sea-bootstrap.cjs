// The single executable's main script: unpacks tcplens's own tree (dist/, the dashboard's page,
// production node_modules with any native addon) once into a cache directory, then runs it from there.
//
// Why a tree on disk and not one bundled script: worker threads, the lab's child scripts, cluster
// workers, the dashboard's files and native addons (process.dlopen needs a file) all expect files
// next to the module that starts them. Run from disk, the executable runs the very code the npm
// package runs, so every command behaves the same; only `node` itself is replaced by this binary.
//
// Children: code in the tree starts scripts as [process.execPath, script, ...args]; here
// process.execPath is this executable, which always runs this file first. An absolute path inside
// the unpacked tree as the first argument therefore means "run that script", as node would.
//
// Assets (written by scripts/build-sea.ts): "tree.id" (version and content hash, names the cache
// directory) and "tree.br" (the files, brotli-compressed: a JSON index line, then their bytes).
'use strict';

const sea = require('node:sea');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { pathToFileURL } = require('node:url');

// Node 24's own floor for Linux: below it the runtime may fail in ways that say nothing useful.
const MIN_KERNEL = [4, 18];

function fail(message) {
  process.stderr.write(`tcplens: ${message}\n`);
  process.exit(1);
}

function checkPlatform() {
  if (process.platform !== 'linux') fail(`this executable is for Linux; this is ${process.platform}`);
  const [major, minor] = os.release().split('.').map((n) => parseInt(n, 10));
  if (!(major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]))) {
    fail(`this executable needs Linux ${MIN_KERNEL.join('.')} or newer; this kernel is ${os.release()} (use the npm package with a Node that runs here)`);
  }
}

/**
 * A directory no other user can write, or undefined: a shared /tmp must not let another user plant
 * files we would run. It may be read-only (a container image unpacked into at build time), as long
 * as the tree is already there or it is writable.
 */
function privateDir(dir, id) {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid() || (st.mode & 0o022) !== 0) return undefined;
    if (!fs.existsSync(path.join(dir, id, 'package.json'))) fs.accessSync(dir, fs.constants.W_OK);
    return dir;
  } catch {
    return undefined;
  }
}

function cacheRoot(id) {
  const candidates = [];
  if (process.env.TCPLENS_CACHE_DIR) candidates.push(process.env.TCPLENS_CACHE_DIR);
  else {
    if (process.env.XDG_CACHE_HOME) candidates.push(path.join(process.env.XDG_CACHE_HOME, 'tcplens'));
    try {
      candidates.push(path.join(os.homedir(), '.cache', 'tcplens'));
    } catch {
      // no home directory for this user: the temporary directory below
    }
    candidates.push(path.join(os.tmpdir(), `tcplens-${process.getuid()}`));
  }
  for (const c of candidates) {
    const dir = privateDir(c, id);
    if (dir) return dir;
  }
  fail(`no writable cache directory to unpack into (tried ${candidates.join(', ')}); set TCPLENS_CACHE_DIR`);
}

function unpack(dest) {
  const raw = zlib.brotliDecompressSync(Buffer.from(sea.getRawAsset('tree.br')));
  const newline = raw.indexOf(10);
  const index = JSON.parse(raw.subarray(0, newline).toString('utf8'));
  // Unpacked beside the final name, then renamed: a directory under the final name is always complete,
  // and two first runs at once both end with the same tree.
  const tmp = `${dest}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  let offset = newline + 1;
  for (const f of index.files) {
    const file = path.join(tmp, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, raw.subarray(offset, offset + f.size), { mode: f.mode });
    offset += f.size;
  }
  try {
    fs.renameSync(tmp, dest);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(dest)) throw err;
  }
}

// Set in the child that unpacks: the directory to unpack into.
const UNPACK_ENV = 'TCPLENS_SEA_UNPACK_INTO';

function treeDir() {
  const id = sea.getAsset('tree.id', 'utf8').trim();
  const dir = path.join(cacheRoot(id), id);
  if (!fs.existsSync(path.join(dir, 'package.json'))) unpackInChild(dir);
  return dir;
}

/**
 * Unpacking reads the whole compressed tree from this file and decompresses it in memory: done in
 * this process, those pages and the allocator's freed buffers would stay in its resident memory
 * for as long as it runs (an exporter runs for months), so a short-lived child does it. Where this
 * executable cannot start itself (under qemu-user without binfmt, exec of a foreign ELF fails),
 * this process unpacks after all.
 */
function unpackInChild(dir) {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, [], { env: { ...process.env, [UNPACK_ENV]: dir }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (!r.error && r.status === 0 && fs.existsSync(path.join(dir, 'package.json'))) return;
  try {
    unpack(dir);
  } catch (err) {
    const child = r.error ? r.error.message : `exited with ${r.status ?? r.signal}${r.stderr ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`;
    throw new Error(`${err && err.message ? err.message : String(err)} (and the unpacking child ${child})`);
  }
}

function run() {
  if (process.env[UNPACK_ENV]) {
    try {
      unpack(process.env[UNPACK_ENV]);
    } catch (err) {
      fail(`could not unpack into the cache directory: ${err && err.message ? err.message : String(err)} (set TCPLENS_CACHE_DIR to a writable directory)`);
    }
    process.exit(0);
  }
  checkPlatform();
  let dir;
  try {
    dir = treeDir();
  } catch (err) {
    fail(`could not unpack into the cache directory: ${err && err.message ? err.message : String(err)} (set TCPLENS_CACHE_DIR to a writable directory)`);
  }
  const first = process.argv[2];
  let script = path.join(dir, 'dist', 'cli', 'main.js');
  if (first !== undefined && path.isAbsolute(first) && first.startsWith(dir + path.sep)) {
    script = first;
    process.argv.splice(2, 1);
  }
  process.argv[1] = script;
  import(pathToFileURL(script).href).catch((err) => {
    process.stderr.write(`tcplens: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

run();
