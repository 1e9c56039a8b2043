// N workers serving one port. With SO_REUSEPORT (Linux, Node >= 22.12) each worker thread has its
// own listening socket and the kernel spreads connections; elsewhere node:cluster's primary hands
// connections round-robin to worker processes, and the handle says which mode it is in.

import cluster from 'node:cluster';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';

export interface WorkersOptions {
  workers: number;
  /** A module whose default export builds the server (not yet listening): (data) => http.Server. */
  module: string | URL;
  port: number;
  host?: string;
  backlog?: number;
  /** Prefer SO_REUSEPORT (default true). */
  reusePort?: boolean;
  /** Passed to the module's default export in every worker (structured-clone-able). */
  data?: unknown;
}

export interface WorkersHandle {
  mode: 'reuseport' | 'cluster';
  port: number;
  workers: number;
  /** Requests each worker has served so far. */
  requests(): Promise<number[]>;
  /** Graceful shutdown of every worker, then they exit. */
  close(deadlineMs?: number): Promise<void>;
}

/** Whether this platform and Node give each worker its own socket on one port. */
export function reusePortSupported(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const recent = major > 22 || (major === 22 && minor >= 12);
  return recent && (process.platform === 'linux' || process.platform === 'freebsd');
}

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

interface Message {
  type: 'ready' | 'listening' | 'requests' | 'closed' | 'error';
  port?: number;
  count?: number;
  message?: string;
}

export async function startWorkers(o: WorkersOptions): Promise<WorkersHandle> {
  if (!Number.isInteger(o.workers) || o.workers < 1) throw new UsageError('--workers must be at least 1');
  const moduleUrl = typeof o.module === 'string' ? o.module : o.module.href;
  if ((o.reusePort ?? true) && reusePortSupported()) return startThreads(o, moduleUrl);
  return startCluster(o, moduleUrl);
}

/** What both kinds of worker look like from here: a thread natively, a cluster process adapted. */
interface Channel {
  postMessage(m: unknown): void;
  on(e: 'message', f: (m: Message) => void): unknown;
  off(e: 'message', f: (m: Message) => void): unknown;
}

/** The next message of this type from the worker (an 'error' message rejects). */
function waitFor(c: Channel, want: Message['type']): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Message) => {
      if (m.type !== 'error' && m.type !== want) return;
      c.off('message', onMessage);
      if (m.type === 'error') reject(new Error(m.message));
      else resolve(m);
    };
    c.on('message', onMessage);
  });
}

function ask(c: Channel, type: string, want: Message['type'], extra: object = {}): Promise<Message> {
  const answer = waitFor(c, want);
  c.postMessage({ type, ...extra });
  return answer;
}

function handle(
  mode: WorkersHandle['mode'],
  port: number,
  channels: Channel[],
  stop: () => Promise<void> | void,
): WorkersHandle {
  return {
    mode,
    port,
    workers: channels.length,
    requests: async () =>
      (await Promise.all(channels.map((c) => ask(c, 'requests', 'requests')))).map((m) => m.count ?? 0),
    close: async (deadlineMs = 10_000) => {
      await Promise.all(channels.map((c) => ask(c, 'close', 'closed', { deadlineMs }).catch(() => undefined)));
      await stop();
    },
  };
}

async function startThreads(o: WorkersOptions, moduleUrl: string): Promise<WorkersHandle> {
  const entry = new URL(`./worker-entry${ext}`, import.meta.url);
  const threads: Worker[] = [];
  let port = o.port;
  try {
    // One after the other: the first may take port 0 and tell the others which port it got.
    for (let i = 0; i < o.workers; i++) {
      const w = new Worker(entry, { workerData: { module: moduleUrl, data: o.data, index: i } });
      threads.push(w);
      await waitFor(w, 'ready');
      const m = await ask(w, 'listen', 'listening', {
        host: o.host ?? '127.0.0.1',
        port,
        backlog: o.backlog,
        reusePort: true,
      });
      port = m.port!;
    }
  } catch (err) {
    await Promise.all(threads.map((t) => t.terminate()));
    throw err;
  }
  return handle('reuseport', port, threads, async () => {
    await Promise.all(threads.map((t) => t.terminate()));
  });
}

async function startCluster(o: WorkersOptions, moduleUrl: string): Promise<WorkersHandle> {
  if (!cluster.isPrimary) throw new Error('startWorkers must run in the primary process');
  cluster.setupPrimary({ exec: fileURLToPath(new URL(`./cluster-entry${ext}`, import.meta.url)), silent: false });
  const procs = Array.from({ length: o.workers }, (_, i) =>
    cluster.fork({ TCPLENS_WORKER: JSON.stringify({ module: moduleUrl, data: o.data, index: i }) }),
  );
  // A cluster worker speaks send(), a thread postMessage().
  const channels: Channel[] = procs.map((p) => ({
    postMessage: (m: unknown) => p.send(m as never),
    on: (e: 'message', f: (m: Message) => void) => p.on(e, f),
    off: (e: 'message', f: (m: Message) => void) => p.off(e, f),
  }));
  await Promise.all(channels.map((c) => waitFor(c, 'ready')));
  // With cluster the primary owns the listening socket, shared by workers that listen with the
  // same arguments — port 0 included, so the port is not passed on as with SO_REUSEPORT.
  let port = o.port;
  for (const c of channels) {
    const m = await ask(c, 'listen', 'listening', {
      host: o.host ?? '127.0.0.1',
      port: o.port,
      backlog: o.backlog,
      reusePort: false,
    });
    port = m.port!;
  }
  return handle('cluster', port, channels, () => {
    for (const p of procs) p.kill();
  });
}
