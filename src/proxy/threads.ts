// More threads carrying the proxies' connections. The main thread keeps the API and the state;
// every proxy it starts is started in each thread too, on the same address with SO_REUSEPORT, so
// the kernel spreads new connections over the threads. Each change (start, stop, a toxic added,
// changed or removed, max_connections) is posted at once, in order; settle() waits until every
// thread has carried out all posted so far, which the API does before it answers, so that a change
// it reports is in effect for new and open connections alike, as with one thread. A toxic's change
// is waited for at once, blocking this thread until every other has made it (a fraction of a
// millisecond): a ProxyHandle's addToxic returns with the toxic in effect everywhere, as it does
// with one thread.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Proxy as OneProxy, ProxyMirror } from './proxy.ts';
import type { ThreadMessage, ThreadReply } from './thread-entry.ts';
import type { ToxicChange } from './toxic-set.ts';
import { UsageError } from '../errors.ts';

/** More is a mistake, not a machine. */
export const MAX_THREADS = 64;

/** A thread that has not made a toxic's change by then is stuck or gone: this one goes on. */
const ACK_TIMEOUT_MS = 2000;

/** Threads beyond this gain little: the kernel's share of each request does not shrink with them. */
const MAX_DEFAULT_THREADS = 4;

/** One thread per core, at most MAX_DEFAULT_THREADS. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(availableParallelism(), MAX_DEFAULT_THREADS));
}

/** TCPLENS_PROXY_THREADS, when set: checked as --threads is. */
export function threadsFromEnv(): number | undefined {
  const raw = process.env.TCPLENS_PROXY_THREADS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)
    throw new UsageError(`TCPLENS_PROXY_THREADS must be a whole number from 1 to ${MAX_THREADS}, not '${raw}'`);
  return n;
}

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

interface Thread {
  worker: Worker;
  /** settle() calls waiting for this thread's answer, by sequence number. */
  waiting: Map<number, () => void>;
  alive: boolean;
}

export class ProxyThreads implements ProxyMirror {
  /** Rows of counters a proxy needs: the main thread's and one per other thread. */
  readonly slots: number;
  private readonly threads: Thread[];
  private readonly subscriptions = new Map<number, () => void>();
  private seq = 0;
  /** Toxic changes made, summed over the threads: each adds one when it has made one. */
  private readonly acks: Int32Array;
  /** Why a thread could not do what it was told (a listen that failed there), reported once. */
  private readonly failures: string[] = [];

  private constructor(threads: Thread[], acks: Int32Array) {
    this.threads = threads;
    this.acks = acks;
    this.slots = threads.length + 1;
  }

  /** `extra` threads besides the main one, each ready for its first proxy when this resolves. */
  static async start(extra: number): Promise<ProxyThreads> {
    const threads: Thread[] = [];
    const acks = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    try {
      for (let i = 0; i < extra; i++) {
        const worker = new Worker(new URL(`./thread-entry${ext}`, import.meta.url), {
          workerData: { slot: i + 1, acks },
        });
        const thread: Thread = { worker, waiting: new Map(), alive: true };
        threads.push(thread);
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', () => {
            worker.off('error', reject);
            resolve();
          });
        });
      }
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    }
    const pool = new ProxyThreads(threads, acks);
    for (const t of threads) pool.watch(t);
    return pool;
  }

  private watch(t: Thread): void {
    t.worker.on('message', (m: ThreadReply) => {
      if (m.op !== 'synced') return;
      this.failures.push(...m.failures);
      t.waiting.get(m.seq)?.();
      t.waiting.delete(m.seq);
    });
    // A thread that died waits for nothing: its listeners and connections went with it.
    const gone = () => {
      t.alive = false;
      for (const done of t.waiting.values()) done();
      t.waiting.clear();
    };
    t.worker.on('error', gone);
    t.worker.on('exit', gone);
  }

  private post(m: ThreadMessage): void {
    for (const t of this.threads) if (t.alive) t.worker.postMessage(m);
  }

  started(p: OneProxy): void {
    this.post({
      op: 'start',
      id: p.id,
      name: p.name,
      listen: p.listen,
      upstream: p.upstream,
      mode: p.mode,
      maxConnections: p.maxConnections,
      tls: p.tls,
      memory: p.share!.block.memory,
      slots: this.slots,
      toxics: p.toxics.list().map((e) => ({ json: e.toJSON(), counts: e.counts.buffer as SharedArrayBuffer })),
    });
    this.subscriptions.set(
      p.id,
      p.toxics.subscribe((c) => this.toxicChanged(p, c)),
    );
  }

  private toxicChanged(p: OneProxy, { kind, entry }: ToxicChange): void {
    const target = Atomics.load(this.acks, 0) + this.threads.filter((t) => t.alive).length;
    if (kind === 'remove') this.post({ op: 'toxic', id: p.id, kind, name: entry.name });
    else
      this.post({
        op: 'toxic',
        id: p.id,
        kind,
        name: entry.name,
        json: entry.toJSON(),
        counts: entry.counts.buffer as SharedArrayBuffer,
      });
    this.waitForAcks(target);
  }

  private waitForAcks(target: number): void {
    const deadline = performance.now() + ACK_TIMEOUT_MS;
    for (;;) {
      const made = Atomics.load(this.acks, 0);
      if (((made - target) | 0) >= 0) return;
      const leftMs = deadline - performance.now();
      if (leftMs <= 0) {
        process.emitWarning(`a proxy thread did not make a toxic's change within ${ACK_TIMEOUT_MS} ms`, {
          code: 'TCPLENS_PROXY_THREAD',
        });
        return;
      }
      Atomics.wait(this.acks, 0, made, leftMs);
    }
  }

  stopped(p: OneProxy): void {
    this.subscriptions.get(p.id)?.();
    this.subscriptions.delete(p.id);
    this.post({ op: 'stop', id: p.id });
  }

  limited(p: OneProxy): void {
    this.post({ op: 'limit', id: p.id, maxConnections: p.maxConnections });
  }

  async settle(): Promise<void> {
    const seq = ++this.seq;
    await Promise.all(
      this.threads.map(
        (t) =>
          new Promise<void>((resolve) => {
            if (!t.alive) return resolve();
            t.waiting.set(seq, resolve);
            t.worker.postMessage({ op: 'sync', seq } satisfies ThreadMessage);
          }),
      ),
    );
    // The main thread serves every proxy too: a thread that could not listen is worth a warning, not a failure.
    for (const f of this.failures.splice(0)) process.emitWarning(f, { code: 'TCPLENS_PROXY_THREAD' });
  }

  /** Every thread's proxies stopped (their connections closed) and the thread ended. */
  async close(): Promise<void> {
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
    this.post({ op: 'close' });
    await Promise.all(
      this.threads.map(async (t) => {
        if (t.alive) await new Promise((resolve) => t.worker.once('exit', resolve));
      }),
    );
  }
}
