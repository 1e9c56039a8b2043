// Which process holds which socket: /proc/<pid>/fd links of the form socket:[inode].

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { procRootDir } from './proc-net-tcp.ts';

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

/**
 * Map socket inodes to their owning process. With `inodes`, only those are looked up (a process
 * sharing a socket through fork keeps the lowest pid seen).
 */
export function readSocketOwners(inodes?: Set<number>, procRoot = procRootDir()): SocketOwners {
  const byInode = new Map<number, SocketOwner>();
  let hiddenProcesses = 0;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((n) => /^\d+$/.test(n));
  } catch {
    return { byInode, hiddenProcesses };
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
    let owner: SocketOwner | undefined;
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${fdDir}/${fd}`);
      } catch {
        continue;
      }
      if (!target.startsWith('socket:[')) continue;
      const inode = Number(target.slice(8, -1));
      if (inodes && !inodes.has(inode)) continue;
      if (byInode.has(inode)) continue;
      owner ??= { pid: Number(pidText), command: readComm(procRoot, pidText) };
      byInode.set(inode, owner);
    }
  }
  return { byInode, hiddenProcesses };
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
  if (!THREAD_NAMES.has(comm)) return comm;
  try {
    return basename(readlinkSync(`${procRoot}/${pid}/exe`));
  } catch {
    return comm;
  }
}

export interface ProcessFdUsage {
  pid: number;
  command: string;
  /** Open file descriptors, and how many of them are sockets. */
  fds: number;
  sockets: number;
}

/** The processes holding the most sockets, with their descriptor counts. */
export function readFdUsage(top = 10, procRoot = procRootDir()): { processes: ProcessFdUsage[]; hiddenProcesses: number } {
  const all: ProcessFdUsage[] = [];
  let hiddenProcesses = 0;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((n) => /^\d+$/.test(n));
  } catch {
    return { processes: [], hiddenProcesses };
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') hiddenProcesses++;
      continue;
    }
    let sockets = 0;
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procRoot}/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        /* closed meanwhile */
      }
    }
    if (sockets > 0) all.push({ pid: Number(pid), command: readComm(procRoot, pid), fds: fds.length, sockets });
  }
  all.sort((a, b) => b.sockets - a.sockets);
  return { processes: all.slice(0, top), hiddenProcesses };
}
