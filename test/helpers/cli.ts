// Runs the tcplens CLI from source in a child process, as a user would run it.

import { spawn } from 'node:child_process';
import { killOnExit } from './children.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; prefix?: string[] } = {},
): Promise<CliResult> {
  const argv = [...(opts.prefix ?? []), process.execPath, MAIN, ...args];
  return new Promise((resolve, reject) => {
    const child = killOnExit(
      spawn(argv[0]!, argv.slice(1), {
        env: { ...process.env, NO_COLOR: '1', ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 100_000); // a hang guard: on a busy machine a CLI run can take tens of seconds
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Assert-friendly check that stderr is one line and carries no stack trace. */
export function isOneCleanLine(stderr: string): boolean {
  const lines = stderr.trimEnd().split('\n');
  return lines.length === 1 && lines[0]!.startsWith('tcplens: ') && !/\n\s+at /.test(stderr);
}

/**
 * Runs the CLI and sends it SIGINT (Ctrl-C) once `server` has counted 100 more requests (the load
 * is flowing), or after 10 s; resolves with the exit code and what it printed on stdout.
 */
export async function interruptCli(
  args: string[],
  server: { count(): number },
): Promise<{ code: number | null; stdout: string }> {
  const child = killOnExit(
    spawn(process.execPath, [MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    }),
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const from = server.count();
  try {
    for (let i = 0; i < 200 && server.count() - from < 100; i++) await new Promise((r) => setTimeout(r, 50));
    if (server.count() - from < 100) throw new Error('the load did not start');
    child.kill('SIGINT');
    return { code: await exited, stdout };
  } finally {
    clearTimeout(killer);
  }
}
