// The least a Node program that reads the socket table can do: load our netlink reader (from dist/)
// and koffi, dump every TCP socket of both families, count them by state, print the counts. Writes
// the in-process milliseconds of the dump alone (from before opening the netlink socket to the last
// row) to the file named by its first argument. Run by bench/sockets.ts; plain JavaScript, so that
// no type stripping adds to the start-up it measures.

import { writeFileSync } from 'node:fs';
import module from 'node:module';

module.enableCompileCache?.();
const { scanSocketTable } = await import(new URL('../../dist/kernel/socket-table.js', import.meta.url).href);
// koffi and libc are loaded before the clock starts: the floor counts the kernel's dump and our reading of it.
const { loadLibc } = await import(new URL('../../dist/kernel/libc.js', import.meta.url).href);
loadLibc();
const counts = new Float64Array(16);
const t0 = performance.now();
const scan = scanSocketTable({ source: 'netlink' }, (row) => counts[row.state]++);
const ms = performance.now() - t0;
writeFileSync(process.argv[2], `${ms}\n`);
process.stdout.write(`${scan.rows} ${counts.join(' ')}\n`);
