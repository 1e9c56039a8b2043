#!/usr/bin/env node
// Entry point of the tcplens binary.

import module from 'node:module';

// Start-up time is a large share of a `tcplens sockets` run: let Node cache compiled code
// (Node >= 22.1; a no-op where it is missing or disabled with NODE_DISABLE_COMPILE_CACHE).
module.enableCompileCache?.();

type Program = typeof import('./program.ts');

/**
 * Built, the program and the sockets command come as one bundled module (scripts/bundle-cli.ts), which
 * loads faster than its thirty files; from the sources, or a dist/ built by tsc alone, the modules
 * themselves.
 */
async function loadProgram(): Promise<Program> {
  if (!import.meta.url.endsWith('.ts')) {
    try {
      return (await import(new URL('./program-bundle.js', import.meta.url).href)) as Program;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  return import('./program.ts');
}

const { main } = await loadProgram();
process.exitCode = await main(process.argv.slice(2));
