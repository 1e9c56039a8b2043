// One bench run from options to result: checks, the engine on this thread or on workers, the kernel
// footprint around it, and the summary. What `tcplens bench` and the library call.

import { lookup } from 'node:dns/promises';
import { connect as netConnect } from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { TcplensError, UsageError } from '../errors.ts';
import { buildRequest } from '../http/request.ts';
import { readOpenFilesLimit } from '../kernel/limits.ts';
import type { BenchResult } from '../model/bench-result.ts';
import { Engine, type EngineConfig } from './engine.ts';
import { startFootprint, isLocalAddress } from './footprint.ts';
import { mergeResults } from './merge.ts';
import { parseTarget, type Target } from './target.ts';
import { engineResult } from './summarize.ts';
import { verdict } from './verdict.ts';
import { p99OfEncoded, type Recorder } from './recorder.ts';

export interface BenchOptions {
  url: string;
  method?: string;
  headers?: [string, string][];
  body?: Uint8Array;
  connections?: number;
  durationS?: number;
  requests?: number;
  /** Open model: requests per second. */
  rate?: number;
  keepAlive?: boolean;
  pipelining?: number;
  /** Worker threads; default 1 against this host (the server needs the other cores), else one per core. */
  workers?: number;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  warmupS?: number;
  insecure?: boolean;
  /** Sample the kernel during the run (Linux). Default true. */
  kernel?: boolean;
  /** Called about once a second. */
  onProgress?: (p: Progress) => void;
  /** Abort early (Ctrl-C): the run stops and reports what it measured. */
  signal?: AbortSignal;
}

export interface Progress {
  elapsedS: number;
  completed: number;
  failed: number;
  lastSecondRequests: number;
  lastSecondP99Ms: number;
  timeWait?: number;
}

/** Typed error for a target that cannot be reached at all. */
export class UnreachableError extends TcplensError {}

interface Plan {
  target: Target;
  address: string;
  engine: Omit<EngineConfig, 'target' | 'onSecond'>;
  workers: number;
  mode: 'keepalive' | 'close';
  method: string;
}

async function plan(o: BenchOptions): Promise<Plan> {
  const target = parseTarget(o.url);
  const connections = o.connections ?? 64;
  const method = (o.method ?? 'GET').toUpperCase();
  const keepAlive = o.keepAlive ?? true;
  const pipelining = o.pipelining ?? 1;
  if (!Number.isInteger(connections) || connections < 1) throw new UsageError('-c must be at least 1');
  if (o.rate !== undefined && !(o.rate > 0)) throw new UsageError('-R (rate) must be more than 0 requests per second');
  if (o.requests !== undefined && (!Number.isInteger(o.requests) || o.requests < 1)) throw new UsageError('-n must be at least 1');
  if (o.durationS !== undefined && !(o.durationS > 0)) throw new UsageError('-d must be more than 0 seconds');
  if (o.rate !== undefined && pipelining > 1) throw new UsageError('-R and -p cannot go together: the open model sends one request at a time per connection');
  if (!keepAlive && pipelining > 1) throw new UsageError('--no-keepalive and -p cannot go together: a connection that closes after one response cannot pipeline');
  // Every connection is a file descriptor; a few more are needed for the rest of the process.
  try {
    const { soft } = readOpenFilesLimit();
    if (soft !== 'unlimited' && connections + 64 > soft) {
      throw new UsageError(
        `-c ${connections} needs ${connections} file descriptors and this process may open ${soft} (ulimit -n): lower -c or raise the limit`,
      );
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  let address = target.host;
  try {
    address = (await lookup(target.host)).address;
  } catch (err) {
    throw new UnreachableError(`cannot resolve ${target.host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  await preflight(address, target.port, o.connectTimeoutMs ?? 5000);
  const local = isLocalAddress(address);
  const workers = o.workers ?? (local ? 1 : Math.max(1, availableParallelism()));
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError('-w must be at least 1');
  if (workers > connections) throw new UsageError(`-w ${workers} needs at least as many connections (-c ${connections})`);
  const body = o.body;
  const request = buildRequest({ method, url: target.url, headers: o.headers ?? [], body, keepAlive });
  return {
    target,
    address,
    workers,
    method,
    mode: keepAlive ? 'keepalive' : 'close',
    engine: {
      request,
      head: method === 'HEAD',
      insecure: o.insecure,
      connections,
      pipelining,
      keepAlive,
      requests: o.requests,
      durationMs: o.requests === undefined ? (o.durationS ?? 10) * 1000 : o.durationS === undefined ? undefined : o.durationS * 1000,
      ratePerSec: o.rate,
      timeoutMs: o.timeoutMs ?? 10_000,
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
      warmupMs: (o.warmupS ?? 0) * 1000,
    },
  };
}

/** One connection before the run, so a dead target costs one clear line instead of a run of errors. */
function preflight(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UnreachableError(`cannot reach ${host}:${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ECONNREFUSED' ? 'nothing listens there (ECONNREFUSED)' : `${err.code ?? ''} ${err.message}`.trim();
      reject(new UnreachableError(`cannot reach ${host}:${port}: ${why}`));
    });
  });
}

/** Split n as evenly as possible into k parts. */
function split(n: number, k: number, i: number): number {
  return Math.floor(n / k) + (i < n % k ? 1 : 0);
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const p = await plan(o);
  const targetForEngine: Target = { ...p.target, host: p.address };
  const footprint = o.kernel === false ? undefined : startFootprint(p.address, p.target.port);
  if (footprint) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([footprint.ready, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
  const started = performance.now();
  const progress = (completed: number, failed: number, lastRequests: number, lastP99: number) => {
    const s = footprint?.samples.at(-1);
    o.onProgress?.({
      elapsedS: (performance.now() - started) / 1000,
      completed,
      failed,
      lastSecondRequests: lastRequests,
      lastSecondP99Ms: lastP99,
      timeWait: s ? s.timeWaitClient + s.timeWaitServer : undefined,
    });
  };

  let result: BenchResult;
  try {
    result = p.workers === 1 ? await runHere(p, targetForEngine, o, progress) : await runOnWorkers(p, o, progress);
  } catch (err) {
    await footprint?.stop();
    throw err;
  }
  result.target = p.target.url.href;
  if (footprint) {
    result.kernel = await footprint.stop();
    const samples = footprint.samples;
    for (const point of result.timeline) {
      const k = samples.filter((x) => x.t <= point.t + 0.5).pop();
      if (k) {
        point.timeWait = k.timeWaitClient + k.timeWaitServer;
        point.ephemeralPorts = k.ephemeral;
      }
    }
    result.verdict = verdict(result);
  }
  return result;
}

async function runHere(
  p: Plan,
  target: Target,
  o: BenchOptions,
  progress: (completed: number, failed: number, lastRequests: number, lastP99: number) => void,
): Promise<BenchResult> {
  const engine = new Engine({
    ...p.engine,
    target,
    onSecond: (rec: Recorder) => {
      const last = rec.timeline.at(-1);
      progress(rec.completed, rec.failed, last?.requests ?? 0, p99OfEncoded(last?.histogram));
    },
  });
  const onAbort = () => engine.stop();
  o.signal?.addEventListener('abort', onAbort);
  try {
    await engine.run();
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return engineResult(engine, { target: p.target.url.href, mode: p.mode, method: p.method });
}



interface WorkerMessage {
  type: 'second' | 'result' | 'error';
  completed?: number;
  failed?: number;
  lastRequests?: number;
  lastP99?: number;
  result?: BenchResult;
  message?: string;
}

async function runOnWorkers(
  p: Plan,
  o: BenchOptions,
  progress: (completed: number, failed: number, lastRequests: number, lastP99: number) => void,
): Promise<BenchResult> {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const url = new URL(`./engine-worker${ext}`, import.meta.url);
  const states = Array.from({ length: p.workers }, () => ({ completed: 0, failed: 0, lastRequests: 0, lastP99: 0 }));
  const workers: Worker[] = [];
  const pending = states.map((state, i) => {
    const e = p.engine;
    const config = {
      ...e,
      url: p.target.url.href,
      address: p.address,
      connections: split(e.connections, p.workers, i),
      requests: e.requests === undefined ? undefined : split(e.requests, p.workers, i),
      ratePerSec: e.ratePerSec === undefined ? undefined : e.ratePerSec / p.workers,
    };
    const w = new Worker(url, { workerData: { config, mode: p.mode, method: p.method } });
    workers.push(w);
    return new Promise<BenchResult>((resolve, reject) => {
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'second') {
          Object.assign(state, { completed: m.completed, failed: m.failed, lastRequests: m.lastRequests, lastP99: m.lastP99 });
          if (i === 0) {
            const sum = (f: (s: (typeof states)[number]) => number) => states.reduce((a, s) => a + f(s), 0);
            progress(sum((s) => s.completed), sum((s) => s.failed), sum((s) => s.lastRequests), Math.max(...states.map((s) => s.lastP99)));
          }
        } else if (m.type === 'result') {
          resolve(m.result!);
        } else {
          reject(new TcplensError(m.message ?? 'a worker failed'));
        }
      });
      w.on('error', reject);
      w.on('exit', (code) => {
        if (code !== 0) reject(new TcplensError(`a bench worker exited with code ${code}`));
      });
    });
  });
  const onAbort = () => {
    for (const w of workers) w.postMessage('stop');
  };
  o.signal?.addEventListener('abort', onAbort);
  let results: BenchResult[];
  try {
    results = await Promise.all(pending);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    for (const w of workers) void w.terminate();
  }
  const merged = mergeResults(results);
  delete merged.merged;
  merged.workers = p.workers;
  return merged;
}
