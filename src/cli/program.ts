// The tcplens program: registers each command and turns typed errors into one line and an exit code.

import { Command, CommanderError } from 'commander';
import { TcplensError } from '../errors.ts';
import { handleClosedStdout } from './output.ts';
import { registerSockets } from './sockets.ts';
import { registerCounters } from './counters.ts';
import { registerSysctl } from './sysctl.ts';
import { registerBench } from './bench.ts';
import { registerServe } from './serve.ts';
import { registerDoctor } from './doctor.ts';
import { registerProbe } from './probe.ts';
import { registerTrace } from './trace.ts';
import { registerProxy } from './proxy.ts';
import { registerLab } from './lab.ts';
import { registerDashboard } from './dashboard.ts';
import { registerExporter } from './exporter.ts';
import { packageVersion } from '../version.ts';


export function buildProgram(): Command {
  const program = new Command('tcplens')
    .description('See, reproduce and tune the life of TCP connections under HTTP on Linux.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      // One line, in our voice, for commander's own complaints (unknown option, missing argument).
      // Its suggestion ("(Did you mean --quick?)") comes on a line of its own: joined into the one line.
      outputError: (text, write) => write(`tcplens: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`),
    })
    .exitOverride();
  registerSockets(program);
  registerCounters(program);
  registerSysctl(program);
  registerBench(program);
  registerServe(program);
  registerDoctor(program);
  registerProbe(program);
  registerTrace(program);
  registerProxy(program);
  registerLab(program);
  registerDashboard(program);
  registerExporter(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  handleClosedStdout();
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // A command may set its own exit code (doctor --fail-on: 3).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; commander already printed its message otherwise.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return 0;
      }
      return 2;
    }
    if (err instanceof TcplensError) {
      process.stderr.write(`tcplens: ${err.message}\n`);
      return err.exitCode;
    }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tcplens: unexpected error: ${msg}\n`);
    if (process.env.TCPLENS_DEBUG) console.error(err);
    return 1;
  }
}

