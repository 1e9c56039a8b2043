// The lab's network: a client and a server namespace joined by a veth pair (198.18.0.0/15), named
// tcplens-lab-<pid>-<rand>-c/-s so that a later run can tell which ones a dead run left behind.

import { execFileSync } from 'node:child_process';
import { PermissionError, UnsupportedPlatformError } from '../errors.ts';
import { deleteNetns, type Netns } from '../kernel/netns.ts';
import type { LabTopology } from './experiment.ts';
import { isProcessAlive } from '../kernel/processes.ts';

export const LAB_NS_PREFIX = 'tcplens-lab-';
// Both namespaces are private, so one fixed pair of addresses serves every run.
export const CLIENT_ADDRESS = '198.18.0.1';
export const SERVER_ADDRESS = '198.18.0.2';
const CLIENT_LINK = 'lab-c';
const SERVER_LINK = 'lab-s';

export interface LabTopologyHandle extends LabTopology {
  /** Kills what still runs inside and deletes both namespaces (and so the veth pair). Idempotent. */
  close(): void;
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new UnsupportedPlatformError('the ip command (iproute2) is missing');
    throw new UnsupportedPlatformError(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).toString().trim()}`);
  }
}

/** Kills every process inside a namespace and deletes it; quiet when it is already gone. */
export const deleteNamespace = deleteNetns;

function labNetns(name: string): Netns {
  return {
    name,
    exec: ['ip', 'netns', 'exec', name],
    sysctl(values) {
      const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
      // Inside the namespace only: net.* sysctls there are the namespace's own copy.
      try {
        execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-qw', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        const e = err as { stderr?: Buffer; message: string };
        throw new UnsupportedPlatformError(
          `sysctl ${args.join(' ')} in ${name}: ${e.stderr?.toString().trim() || e.message}`,
        );
      }
    },
    close() {
      deleteNamespace(name);
    },
  };
}

/** Lab namespaces whose creating process is gone: what a killed run left behind. */
export function staleNamespaces(names: string[]): string[] {
  return names.filter((n) => {
    const m = /^tcplens-lab-(\d+)-/.exec(n);
    return m !== null && !isProcessAlive(Number(m[1]));
  });
}

export function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Removes the lab namespaces of dead runs (live runs' ones, other tests' too, are left alone). */
export function removeStaleNamespaces(): string[] {
  const stale = staleNamespaces(listNamespaces());
  for (const name of stale) deleteNamespace(name);
  return stale;
}

export function createTopology(): LabTopologyHandle {
  if (process.getuid?.() !== 0) throw new PermissionError('the lab needs root for its network namespaces');
  const base = `${LAB_NS_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const client = labNetns(`${base}-c`);
  const server = labNetns(`${base}-s`);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    // Deleting the namespaces deletes the veth pair with them: it never lives on the host.
    client.close();
    server.close();
  };
  try {
    ip(['netns', 'add', client.name]);
    ip(['netns', 'add', server.name]);
    ip(['-n', client.name, 'link', 'set', 'lo', 'up']);
    ip(['-n', server.name, 'link', 'set', 'lo', 'up']);
    ip([
      '-n',
      client.name,
      'link',
      'add',
      CLIENT_LINK,
      'type',
      'veth',
      'peer',
      'name',
      SERVER_LINK,
      'netns',
      server.name,
    ]);
    ip(['-n', client.name, 'addr', 'add', `${CLIENT_ADDRESS}/30`, 'dev', CLIENT_LINK]);
    ip(['-n', server.name, 'addr', 'add', `${SERVER_ADDRESS}/30`, 'dev', SERVER_LINK]);
    ip(['-n', client.name, 'link', 'set', CLIENT_LINK, 'up']);
    ip(['-n', server.name, 'link', 'set', SERVER_LINK, 'up']);
  } catch (err) {
    close();
    throw err;
  }
  return {
    client,
    server,
    clientAddress: CLIENT_ADDRESS,
    serverAddress: SERVER_ADDRESS,
    setLink(up) {
      // The server's end goes down: the client's packets vanish without any answer, as when a
      // peer loses power; the client's own link stays up, so nothing tells it.
      ip(['-n', server.name, 'link', 'set', SERVER_LINK, up ? 'up' : 'down']);
    },
    close,
  };
}
