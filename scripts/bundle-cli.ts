// Part of `npm run build`, after tsc: the CLI's program and the modules of `tcplens sockets` as one
// bundled module, dist/cli/program-bundle.js (with its chunks), which dist/cli/main.js loads. A short
// command spends a large share of its run loading modules, and Node loads one file of the same code
// faster than thirty. Every other command's module stays as tsc wrote it and loads as before.
//
// Node's own modules are taken with process.getBuiltinModule rather than imported: an import of a
// built-in module makes an ES module facade of it, copying every export, which for the few the
// sockets command uses costs more than its dump of a thousand sockets.
//
// Kept out of the bundle, so that the process holds one copy of them whichever path it takes:
// packages and Node's own modules, the other commands (loaded on demand), errors.js (the program
// tells typed errors apart with instanceof) and version.js (it reads ../package.json beside itself).
//
// Usage: node scripts/bundle-cli.ts   (reads and writes dist/)

import { readdirSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { rolldown } from 'rolldown';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli');
const OWN = ['errors.js', 'version.js'].map((f) => resolve(CLI, '..', f));
const OTHER_COMMAND = /^(counters|sysctl|bench|serve|doctor|probe|trace|proxy|lab|dashboard|exporter)\.js$/;

const BUILTIN = '\0builtin:';
const isBuiltin = (id: string): boolean => id.startsWith('node:') || builtinModules.includes(id);

const isExternal = (id: string, importer: string | undefined): boolean => {
  if (id.startsWith(BUILTIN) || isBuiltin(id)) return false;
  if (!id.startsWith('.') && !id.startsWith('/')) return true;
  const file = importer && id.startsWith('.') ? resolve(dirname(importer), id) : id;
  return OWN.includes(file) || (dirname(file) === CLI && OTHER_COMMAND.test(file.slice(CLI.length + 1)));
};

for (const f of readdirSync(CLI)) if (f.startsWith('program-bundle')) rmSync(join(CLI, f));
/** A built-in module as a module of the bundle: its exports, read from process.getBuiltinModule. */
async function builtinShim(name: string): Promise<string> {
  const names = Object.keys(await import(name)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
  // Each export is a call marked pure, so that the bundle keeps only those it uses: a bare property
  // read would be kept, and some of them are getters that load more modules.
  return [
    `const m = process.getBuiltinModule(${JSON.stringify(name)});`,
    'const pick = (k) => m[k];',
    'export default m;',
    ...names.map((n) => `export const ${n} = /* @__PURE__ */ pick(${JSON.stringify(n)});`),
  ].join('\n');
}

const bundle = await rolldown({
  input: { 'program-bundle': join(CLI, 'program.js') },
  platform: 'node',
  external: isExternal,
  plugins: [
    {
      name: 'builtin-modules',
      resolveId: (id) => (isBuiltin(id) ? `${BUILTIN}${id.startsWith('node:') ? id : `node:${id}`}` : null),
      load: (id) => (id.startsWith(BUILTIN) ? builtinShim(id.slice(BUILTIN.length)) : null),
    },
  ],
});
await bundle.write({
  dir: CLI,
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: 'program-bundle-[name]-[hash].js',
  sourcemap: true,
});
await bundle.close();
