// The dashboard page's files (built by Vite from web/ into dist/web): found, read once, served from memory.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcplensError } from '../errors.ts';

export interface Asset {
  body: Buffer;
  type: string;
  /** Vite puts a content hash in every name under assets/: those never change. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the built page is. Built, this module is dist/observe/ and the page dist/web/; run from
 * sources, it is src/observe/ and the page is still dist/web/ (npm run build makes it).
 */
export function findAssetsDir(): string | undefined {
  for (const rel of ['../web/', '../../dist/web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

function walk(dir: string, out: string[]): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** URL path ("/assets/index-3f2a.js") → file. Only what is in the build can ever be served. */
export function loadAssets(dir = findAssetsDir()): Map<string, Asset> {
  if (dir === undefined || !existsSync(join(dir, 'index.html'))) {
    throw new TcplensError(
      `the dashboard's page is not built (no ${dir ?? 'dist/web'}/index.html): run npm run build in the tcplens checkout`,
    );
  }
  const assets = new Map<string, Asset>();
  for (const file of walk(dir, [])) {
    const path = '/' + relative(dir, file).split(sep).join('/');
    if (path.endsWith('.map')) continue;
    assets.set(path, {
      body: readFileSync(file),
      type: TYPES[extname(file)] ?? 'application/octet-stream',
      immutable: path.startsWith('/assets/'),
    });
  }
  return assets;
}
