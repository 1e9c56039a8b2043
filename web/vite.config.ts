// Builds the dashboard's page (web/) into dist/web, where the server (src/observe/dashboard-assets.ts)
// looks for it both from sources and from the published package.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative URLs: the page works at any path (behind a reverse proxy's prefix, for example).
  base: './',
  publicDir: here('public'),
  logLevel: 'warn',
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One small page: nothing to gain from preloading chunks, and the polyfill is code we would ship.
    modulePreload: false,
    reportCompressedSize: false,
  },
});
