// The tcplens program: registers each command and turns typed errors into one line and an exit code.

import type { Command } from 'commander';
import { TcplensError } from '../errors.ts';
import { handleClosedStdout } from './output.ts';
import { packageVersion } from '../version.ts';

type Register = (program: Command) => void;

// Each command's module is loaded only when that command runs: together they pull in undici,
// prom-client, TLS and more, whose loading would cost `tcplens sockets` more than its own work.
const COMMANDS: [string, () => Promise<Register>][] = [
  ['sockets', async () => (await import('./sockets.ts')).registerSockets],
  ['counters', async () => (await import('./counters.ts')).registerCounters],
  ['sysctl', async () => (await import('./sysctl.ts')).registerSysctl],
  ['bench', async () => (await import('./bench.ts')).registerBench],
  ['serve', async () => (await import('./serve.ts')).registerServe],
  ['doctor', async () => (await import('./doctor.ts')).registerDoctor],
  ['probe', async () => (await import('./probe.ts')).registerProbe],
  ['trace', async () => (await import('./trace.ts')).registerTrace],
  ['proxy', async () => (await import('./proxy.ts')).registerProxy],
  ['lab', async () => (await import('./lab.ts')).registerLab],
  ['dashboard', async () => (await import('./dashboard.ts')).registerDashboard],
  ['exporter', async () => (await import('./exporter.ts')).registerExporter],
];

/** The program with every command, or only `only` when it names one (what a run of it needs). */
export async function buildProgram(only?: string): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command('tcplens')
    .description('See, reproduce and tune the life of TCP connections under HTTP on Linux.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      // One line, in our voice, for commander's own complaints (unknown option, missing argument).
      // Its suggestion ("(Did you mean --quick?)") comes on a line of its own: joined into the one line.
      outputError: (text, write) =>
        write(
          `tcplens: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')} (see --help)\n`,
        ),
    })
    .exitOverride();
  const one = COMMANDS.find(([name]) => name === only);
  for (const [, load] of one ? [one] : COMMANDS) (await load())(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  handleClosedStdout();
  try {
    // `tcplens sockets` with plain options runs without loading commander at all.
    const fast = argv[0] === 'sockets' && (await (await import('./sockets.ts')).runSocketsFast(argv.slice(1)));
    if (!fast) await (await buildProgram(argv[0])).parseAsync(argv, { from: 'user' });
    // A command may set its own exit code (doctor --fail-on: 3).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (isCommanderError(err)) {
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

/** commander's own errors (help shown, unknown option...), told apart without loading commander. */
function isCommanderError(err: unknown): err is Error & { code: string } {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('commander.');
}
