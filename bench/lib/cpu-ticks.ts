// A process's CPU time so far (user + system), from /proc/<pid>/stat: what a server spent, whatever
// the machine's load did to its throughput.

import { readFileSync } from 'node:fs';

/** utime + stime of `pid`, in clock ticks (1/100 s). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** utime + stime of `pid`, in seconds. */
export function cpuSeconds(pid: number): number {
  return cpuTicks(pid) / 100;
}

/** utime and stime of `pid` apart, in seconds: user space, and the kernel working for it (system calls). */
export function cpuSplitSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}
