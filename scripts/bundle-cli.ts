// Part of `npm run build`, after tsc: the CLI's program and the modules of `tcplens sockets` as one
// bundled module, dist/cli/program-bundle.js (with its chunks), which dist/cli/main.js loads. A short
// command spends a large share of its run loading modules, and Node loads one file of the same code
// faster than thirty. Every other command's module stays as tsc wrote it and loads as before.
//
// Kept out of the bundle, so that the process holds one copy of them whichever path it takes:
// packages and Node's own modules, the other commands (loaded on demand), errors.js (the program
// tells typed errors apart with instanceof) and version.js (it reads ../package.json beside itself).
//
// Usage: node scripts/bundle-cli.ts   (reads and writes dist/)

import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { rolldown } from 'rolldown';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli');
const OWN = ['errors.js', 'version.js'].map((f) => resolve(CLI, '..', f));
const OTHER_COMMAND = /^(counters|sysctl|bench|serve|doctor|probe|trace|proxy|lab|dashboard|exporter)\.js$/;

const isExternal = (id: string, importer: string | undefined): boolean => {
  if (!id.startsWith('.') && !id.startsWith('/')) return true;
  const file = importer && id.startsWith('.') ? resolve(dirname(importer), id) : id;
  return OWN.includes(file) || (dirname(file) === CLI && OTHER_COMMAND.test(file.slice(CLI.length + 1)));
};

for (const f of readdirSync(CLI)) if (f.startsWith('program-bundle')) rmSync(join(CLI, f));
const bundle = await rolldown({
  input: { 'program-bundle': join(CLI, 'program.js') },
  platform: 'node',
  external: isExternal,
});
await bundle.write({
  dir: CLI,
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: 'program-bundle-[name]-[hash].js',
  sourcemap: true,
});
await bundle.close();
