// Runs `tcplens serve --json` as a child process and hands back its address and a stop().

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { killOnExit } from './children.ts';

export interface ServeProcess {
  url: string;
  port: number;
  start: Record<string, unknown>;
  child: ChildProcess;
  /** SIGINT, then the shutdown line it prints. */
  stop(): Promise<Record<string, unknown> | undefined>;
}

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export async function startServe(args: string[] = []): Promise<ServeProcess> {
  const child = killOnExit(
    spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  const iterator = lines[Symbol.asyncIterator]();
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const first = await iterator.next();
  clearTimeout(timer);
  if (first.done) throw new Error(`serve did not start: ${stderr}`);
  const start = JSON.parse(first.value) as { url: string; port: number };
  return {
    url: start.url,
    port: start.port,
    start,
    child,
    async stop() {
      if (child.exitCode !== null) return undefined;
      child.kill('SIGINT');
      const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const next = await iterator.next();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      clearTimeout(kill);
      return next.done ? undefined : (JSON.parse(next.value) as Record<string, unknown>);
    },
  };
}
