#!/usr/bin/env node
// Entry point of the tcplens binary.

import module from 'node:module';

// Start-up time is a large share of a `tcplens sockets` run: let Node cache compiled code
// (Node >= 22.1; a no-op where it is missing or disabled with NODE_DISABLE_COMPILE_CACHE).
module.enableCompileCache?.();
const { main } = await import('./program.ts');
process.exitCode = await main(process.argv.slice(2));
