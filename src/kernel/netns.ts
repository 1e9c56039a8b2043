// Network namespaces of our own (ip netns): created with a unique name, everything inside killed
// and the namespace deleted on close. Benchmarks, tests and the lab use them so that sysctl changes
// and TIME_WAIT never touch the host.

import { execFileSync } from 'node:child_process';
import { PermissionError, UnsupportedPlatformError } from '../errors.ts';

export interface Netns {
  name: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  /** Set net.* sysctls inside the namespace only. */
  sysctl(values: Record<string, string | number>): void;
  close(): void;
}

/** Namespaces made by this process and not yet closed: deleted when it exits, however it exits. */
const open = new Set<string>();
let exitHookSet = false;

function deleteOpenOnExit(): void {
  for (const name of open) deleteNetns(name);
}

export function createNetns(prefix: string): Netns {
  if (process.getuid?.() !== 0) throw new PermissionError('network namespaces need root');
  const name = `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new UnsupportedPlatformError('the ip command (iproute2) is missing');
    throw new UnsupportedPlatformError(`ip netns add failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
  const ns: Netns = {
    name,
    exec: ['ip', 'netns', 'exec', name],
    sysctl(values) {
      const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
      execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-qw', ...args]);
    },
    close() {
      open.delete(name);
      deleteNetns(name);
    },
  };
  // A process that ends before close() (a test runner forcing its exit after a timed-out test, an
  // uncaught error) still leaves no namespace behind; 'exit' handlers may only run synchronous code.
  open.add(name);
  if (!exitHookSet) {
    exitHookSet = true;
    process.on('exit', deleteOpenOnExit);
  }
  try {
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    ns.close();
    throw err;
  }
  return ns;
}

/** Kills everything still running inside a namespace (an nginx master's orphaned workers, say), then deletes it; quiet when it is already gone. */
export function deleteNetns(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no such namespace */
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}
