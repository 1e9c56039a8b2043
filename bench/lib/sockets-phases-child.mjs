// One `tcplens sockets ARGS` run from dist/, with the process's CPU time (user + system) read at
// each phase boundary; prints the marks as one JSON line on stderr. Run by bench/sockets-phases.ts;
// plain JavaScript, since a .ts entry would add Node's type stripping to the start-up it measures.

import module from 'node:module';

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const marks = [['node start-up (before any of our code)', cpuMs()]];
module.enableCompileCache?.();
const dist = new URL('../../dist/', import.meta.url).href;
const args = process.argv.slice(2);
if (process.env.SOCKETS_PHASES_COMMANDER) {
  // The path every other command takes: commander and the program.
  const { buildProgram } = await import(`${dist}cli/program.js`);
  const program = await buildProgram('sockets');
  marks.push(['commander + the sockets command modules', cpuMs()]);
  await program.parseAsync(['sockets', ...args], { from: 'user' });
} else {
  // What dist/cli/main.js runs: the bundled program (scripts/bundle-cli.ts), which loads the
  // sockets command's chunk when it runs it.
  const { main } = await import(`${dist}cli/program-bundle.js`);
  marks.push(['the program (bundled)', cpuMs()]);
  const code = await main(['sockets', ...args]);
  if (code !== 0) throw new Error(`tcplens sockets ${args.join(' ')}: exit ${code}`);
}
marks.push([process.env.SOCKETS_PHASES_COMMANDER ? 'the dump, the work and the output' : 'sockets chunk, koffi, dump, work, output', cpuMs()]);
process.on('exit', () => process.stderr.write(`${JSON.stringify(marks)}\n`));
