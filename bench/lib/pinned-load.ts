// One run of a server under `tcplens bench`, each pinned to a core of its own (server to 0, load to 1)
// so that the scheduler does not add its own noise. Throughput on a shared machine swings, so the
// server's own CPU time per request (from /proc/<pid>/stat) comes with it.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { cpuTicks } from './cpu-ticks.ts';

export interface PinnedLoad {
  /** The server's argv; its first line on stdout tells its port (see `portOf`). */
  server: string[];
  portOf(line: string): number;
  /** The tcplens CLI whose `bench` loads it. */
  cli: string;
  /** Loaded at http://127.0.0.1:<port><path>, 64 keep-alive connections. */
  path: string;
  seconds: number;
}

export async function runPinnedLoad(o: PinnedLoad): Promise<{ rps: number; cpuUsPerRequest: number }> {
  const server = spawn('taskset', ['-c', '0', ...o.server], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    const port = o.portOf(line);
    // taskset execs the server, so the child's pid is the server's.
    const before = cpuTicks(server.pid!);
    const r = spawnSync(
      'taskset',
      [
        '-c',
        '1',
        process.execPath,
        o.cli,
        'bench',
        `http://127.0.0.1:${port}${o.path}`,
        '-c',
        '64',
        '-d',
        String(o.seconds),
        '--no-kernel',
        '--json',
      ],
      {
        encoding: 'utf8',
        timeout: (o.seconds + 30) * 1000,
      },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    const ticks = cpuTicks(server.pid!) - before;
    const result = JSON.parse(r.stdout) as { requests: { perSecond: number; total: number } };
    return { rps: result.requests.perSecond, cpuUsPerRequest: (ticks * 10_000) / result.requests.total };
  } finally {
    server.kill('SIGTERM');
  }
}
