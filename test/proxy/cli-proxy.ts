// Starts `tcplens proxy … --json` in a child process, as a user would, and reads its bound addresses.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ProxyJson } from '../../src/proxy/proxy.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface CliProxy {
  child: ChildProcess;
  api: string | null;
  proxies: ProxyJson[];
  port(name: string): number;
  /** Resident memory of the proxy process, in bytes (Linux /proc). */
  rssBytes(): number;
  /** SIGTERM, then the second --json line ({"stats":[…]}) and the exit code. */
  stop(): Promise<{ code: number | null; last: string; stderr: string }>;
}

export function startCliProxy(args: string[], env: Record<string, string> = {}): Promise<CliProxy> {
  const child = spawn(process.execPath, [MAIN, 'proxy', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcplens proxy did not start: ${stderr}`));
    }, 15_000);
    const onData = () => {
      const nl = stdout.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const first = JSON.parse(stdout.slice(0, nl)) as { api: string | null; proxies: ProxyJson[] };
      resolve({
        child,
        api: first.api,
        proxies: first.proxies,
        port: (name) =>
          Number(
            first.proxies
              .find((p) => p.name === name)!
              .listen.split(':')
              .pop(),
          ),
        rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
        stop: async () => {
          child.kill('SIGTERM');
          const code = await exited;
          const lines = stdout.trim().split('\n');
          return { code, last: lines.at(-1)!, stderr };
        },
      });
    };
    child.stdout!.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tcplens proxy exited with ${code}: ${stderr}`));
    });
  });
}
