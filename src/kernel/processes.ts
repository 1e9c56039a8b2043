// Which process holds which socket: /proc/<pid>/fd links of the form socket:[inode].

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { procRootDir } from './proc-root.ts';
import { readOpenFilesLimit } from './limits.ts';

export interface SocketOwner {
  pid: number;
  /** The process's command name: /proc/<pid>/comm, or the executable's name where comm says less. */
  command: string;
}

export interface SocketOwners {
  byInode: Map<number, SocketOwner>;
  /** Processes whose file descriptors we may not read (other users' without root). */
  hiddenProcesses: number;
}

export interface ProcessFdUsage {
  pid: number;
  command: string;
  /** Open file descriptors, and how many of them are sockets. */
  fds: number;
  sockets: number;
}

export interface ProcessScan extends SocketOwners {
  /** Every readable process holding at least one socket, in /proc order. */
  usage: ProcessFdUsage[];
}

/**
 * One walk of /proc/<pid>/fd for everything tcplens asks of it: the owner of each socket inode
 * (only those in `inodes` when given; a socket shared through fork keeps the lowest pid seen) and
 * each process's descriptor counts.
 */
export function scanProcesses(inodes?: Set<number>, procRoot = procRootDir()): ProcessScan {
  const byInode = new Map<number, SocketOwner>();
  const usage: ProcessFdUsage[] = [];
  let hiddenProcesses = 0;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((n) => /^\d+$/.test(n));
  } catch {
    return { byInode, usage, hiddenProcesses };
  }
  for (const pidText of pids) {
    const fdDir = `${procRoot}/${pidText}/fd`;
    let fds: string[];
    try {
      fds = readdirSync(fdDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') hiddenProcesses++;
      continue; // ENOENT: the process ended meanwhile
    }
    let command: string | undefined;
    let sockets = 0;
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${fdDir}/${fd}`);
      } catch {
        continue;
      }
      if (!target.startsWith('socket:[')) continue;
      sockets++;
      const inode = Number(target.slice(8, -1));
      if ((inodes && !inodes.has(inode)) || byInode.has(inode)) continue;
      command ??= readComm(procRoot, pidText);
      byInode.set(inode, { pid: Number(pidText), command });
    }
    if (sockets > 0)
      usage.push({ pid: Number(pidText), command: command ?? readComm(procRoot, pidText), fds: fds.length, sockets });
  }
  return { byInode, usage, hiddenProcesses };
}

/**
 * Whether a process lives in the same network namespace as this one (its sockets are in the tables
 * this process reads). A process whose namespace cannot be read is counted in.
 */
export function sameNetworkNamespace(procRoot = procRootDir()): (pid: number) => boolean {
  let mine: string;
  try {
    mine = readlinkSync(`${procRoot}/self/ns/net`);
  } catch {
    return () => true;
  }
  return (pid) => {
    try {
      return readlinkSync(`${procRoot}/${pid}/ns/net`) === mine;
    } catch {
      return true;
    }
  };
}

/** Map socket inodes to their owning process (only `inodes` when given). */
export function readSocketOwners(inodes?: Set<number>, procRoot = procRootDir()): SocketOwners {
  const { byInode, hiddenProcesses } = scanProcesses(inodes, procRoot);
  return { byInode, hiddenProcesses };
}

/** The processes holding the most sockets. */
export function topBySockets(usage: ProcessFdUsage[], top: number): ProcessFdUsage[] {
  return [...usage].sort((a, b) => b.sockets - a.sockets).slice(0, top);
}

// Names a runtime gives its main thread, which comm then shows instead of the program (Node 24
// calls its main thread MainThread): for these, the executable's own name says more.
const THREAD_NAMES = new Set(['MainThread']);

function readComm(procRoot: string, pid: string): string {
  let comm: string;
  try {
    comm = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
  return programName(pid, comm, procRoot);
}

/** Whether a comm is only the name of a runtime's main thread (Node 24's "MainThread"), not of the program. */
export function isThreadName(comm: string): boolean {
  return THREAD_NAMES.has(comm);
}

/** The name to show for a process whose comm is `comm`: the executable's name when comm is only a thread's name. */
export function programName(pid: number | string, comm: string, procRoot = '/proc'): string {
  if (!THREAD_NAMES.has(comm)) return comm;
  try {
    return basename(readlinkSync(`${procRoot}/${pid}/exe`));
  } catch {
    return comm;
  }
}

export interface ProcessWithLimit extends ProcessFdUsage {
  /** The soft RLIMIT_NOFILE; undefined when unlimited or not ours to read. */
  softLimit?: number;
}

/**
 * The top socket holders with their descriptor limits, and the owners of `inodes`, in one /proc
 * walk. `keep` leaves processes out of the top (not of the owners).
 */
export function readProcessesWithLimits(
  inodes: Set<number>,
  top = 10,
  keep?: (pid: number) => boolean,
): { processes: ProcessWithLimit[]; owners: Map<number, SocketOwner>; hidden: number } {
  const scan = scanProcesses(inodes);
  const processes = topBySockets(keep ? scan.usage.filter((p) => keep(p.pid)) : scan.usage, top).map((p) => {
    let softLimit: number | undefined;
    try {
      const l = readOpenFilesLimit(p.pid);
      softLimit = l.soft === 'unlimited' ? undefined : l.soft;
    } catch {
      /* gone, or not ours to read */
    }
    return { ...p, softLimit };
  });
  return { processes, owners: scan.byInode, hidden: scan.hiddenProcesses };
}

/** Whether a process with this pid exists (one we may not signal counts: EPERM says it is there). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
