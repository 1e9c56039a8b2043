// Grows a socket population in a namespace with as many socket-farm processes as the descriptor
// limit needs (each holds both ends of its connections), and returns a handle that stops them.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Netns } from '../../src/kernel/netns.ts';

export interface Farms {
  /** One JSON line per farm, as each printed it when ready. */
  ready: string[];
  close(): Promise<void>;
}

/** Connections per farm process: two descriptors each, under a 20,000-descriptor limit. */
const PER_FARM = 9000;

export async function startFarms(ns: Netns, n: { established: number; timeWait: number }): Promise<Farms> {
  const count = Math.max(1, Math.ceil(n.established / PER_FARM));
  const children: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(
      children.map((c) => {
        if (c.exitCode !== null) return undefined;
        c.stdin!.end();
        return new Promise((r) => c.once('exit', r));
      }),
    );
  };
  try {
    const ready: string[] = [];
    for (let i = 0; i < count; i++) {
      const established = Math.floor(n.established / count) + (i < n.established % count ? 1 : 0);
      const timeWait = i === 0 ? n.timeWait : 0;
      const argv = [
        ...ns.exec,
        process.execPath,
        new URL('./socket-farm.ts', import.meta.url).pathname,
        '--established',
        String(established),
        '--time-wait',
        String(timeWait),
        '--ports',
        '8',
      ];
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      ready.push(
        await new Promise<string>((resolve, reject) => {
          createInterface({ input: child.stdout! }).once('line', resolve);
          child.once('exit', (code) => reject(new Error(`socket farm exited with ${code}`)));
          setTimeout(() => reject(new Error('socket farm not ready in 300 s')), 300_000).unref();
        }),
      );
    }
    return { ready, close };
  } catch (err) {
    await close();
    throw err;
  }
}
