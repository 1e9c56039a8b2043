// A throwaway network namespace for benchmarks: created with a unique name, always deleted.

import { execFileSync } from 'node:child_process';

export interface Netns {
  name: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  close(): void;
}

export function createNetns(prefix: string): Netns {
  if (process.getuid?.() !== 0) throw new Error('this benchmark needs root (it creates a network namespace)');
  const name = `${prefix}-${process.pid}-${Date.now() % 100000}`;
  execFileSync('ip', ['netns', 'add', name]);
  const ns: Netns = {
    name,
    exec: ['ip', 'netns', 'exec', name],
    close() {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
  };
  try {
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    ns.close();
    throw err;
  }
  return ns;
}
