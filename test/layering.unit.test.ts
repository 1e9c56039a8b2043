// The dependency order of src/, enforced: every import (type-only, re-exports and dynamic imports
// included) goes down the layers below, never up, never sideways between two
// capabilities, and no files import each other in a cycle. Today's known exceptions are listed, each
// to be removed when fixed; the test fails on any new one, and on a listed one that is gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Layers, lowest first; a file may import its own layer's files and lower layers'. Each entry is a
 * folder of src/ (or a file at its top). Capabilities share a layer but are peers: none imports
 * another (what two of them share goes down, to a leaf).
 */
const LAYERS: { name: string; units: string[]; peers?: boolean }[] = [
  { name: 'leaf', units: ['errors.ts', 'version.ts', 'node-internals.ts', 'model', 'text'] },
  { name: 'read and wire', units: ['kernel', 'http'] },
  { name: 'analyze', units: ['analyze'] },
  { name: 'host snapshot', units: ['host'] },
  { name: 'capabilities', units: ['pool', 'serve', 'probe', 'bench', 'proxy', 'trace', 'observe'], peers: true },
  { name: 'lab (runs the capabilities)', units: ['lab'] },
  { name: 'render', units: ['render'] },
  { name: 'cli', units: ['cli'] },
  { name: 'public API', units: ['index.ts'] },
];

/**
 * Edges that break the order today ("from -> to", files relative to src/). Each goes when its
 * import does; the test says so when one is gone.
 */
const KNOWN_UPWARD: readonly string[] = [];

/** Cycles today, each as its files sorted and joined; each goes when broken. */
const KNOWN_CYCLES: readonly string[] = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/**
 * The files of src/ a file imports: static, type-only, re-exports and dynamic imports. A path built
 * at run time for a worker or a child process (`new URL(…, import.meta.url)`) is a process
 * boundary, not an import, and is not counted.
 */
function importsOf(file: string, text: string): string[] {
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*(['"])(\.{1,2}\/[^'"]+)\1/g)) specifiers.push(m[2]!);
  return specifiers
    .map((s) => normalize(join(dirname(file), s)))
    .filter((target) => !target.startsWith('..') && target.endsWith('.ts'));
}

const unitOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file);

function layerOf(file: string): number {
  const i = LAYERS.findIndex((l) => l.units.includes(unitOf(file)));
  if (i < 0)
    throw new Error(`src/${file}: its folder is in no layer of test/layering.unit.test.ts; add it where it belongs`);
  return i;
}

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles(SRC).sort())
    edges.set(file, [...new Set(importsOf(file, readFileSync(join(SRC, file), 'utf8')))].sort());
  return edges;
}

/** Edges that go up a layer, or sideways between two peers of one layer. */
function badEdges(edges: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      const a = layerOf(from);
      const b = layerOf(to);
      const sideways = a === b && LAYERS[a]!.peers === true && unitOf(from) !== unitOf(to);
      if (b > a || sideways) bad.push(`${from} -> ${to}`);
    }
  }
  return bad.sort();
}

/** Strongly connected components with more than one file (Tarjan), each as its sorted files. */
function cycles(edges: Map<string, string[]>): string[] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort().join(' <-> '));
    }
  };
  for (const v of edges.keys()) if (!indexOf.has(v)) visit(v);
  return found.sort();
}

test('the import parser sees static, type-only, re-exported and dynamic imports, not worker paths', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../model/b.ts';",
    "export { c } from './c.ts';",
    "export * from './d.ts';",
    "const { e } = await import('../render/e.ts');",
    'import {\n  f,\n  g,\n} from "./fg.ts";',
    "new Worker(new URL('./worker.ts', import.meta.url));",
    "import { readFileSync } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(importsOf('bench/x.ts', text).sort(), [
    'bench/a.ts',
    'bench/c.ts',
    'bench/d.ts',
    'bench/fg.ts',
    'model/b.ts',
    'render/e.ts',
  ]);
});

test('every folder of src/ has a layer, and every import resolves to a file of src/', () => {
  const edges = graph();
  for (const [from, targets] of edges) {
    layerOf(from);
    for (const to of targets) assert.ok(edges.has(to), `src/${from} imports src/${to}, which does not exist`);
  }
});

test('imports go down the layers and not sideways between capabilities (beyond the known list)', () => {
  const bad = badEdges(graph());
  const added = bad.filter((e) => !KNOWN_UPWARD.includes(e));
  const gone = KNOWN_UPWARD.filter((e) => !bad.includes(e));
  assert.deepEqual(
    added,
    [],
    `new imports against the layer order (${LAYERS.map((l) => l.name).join(' < ')}); import something lower instead`,
  );
  assert.deepEqual(gone, [], 'fixed: remove these from KNOWN_UPWARD in test/layering.unit.test.ts');
});

test('no files import each other in a cycle, not even for a type (beyond the known list)', () => {
  const found = cycles(graph());
  const added = found.filter((c) => !KNOWN_CYCLES.includes(c));
  const gone = KNOWN_CYCLES.filter((c) => !found.includes(c));
  assert.deepEqual(added, [], 'new import cycles');
  assert.deepEqual(gone, [], 'broken: remove these from KNOWN_CYCLES in test/layering.unit.test.ts');
});
