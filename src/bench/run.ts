// One bench run from options to result: checks, the engine on this thread or on workers, the kernel
// footprint around it, and the summary. What `tcplens bench` and the library call.

import { lookup } from 'node:dns/promises';
import { connect as netConnect } from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { TcplensError, UsageError } from '../errors.ts';
import { asksClose, buildRequest } from '../http/request.ts';
import { readOpenFilesLimit } from '../kernel/limits.ts';
import type { BenchResult } from '../model/bench-result.ts';
import { Engine, type EngineConfig } from './engine.ts';
import { describeConnectFailure } from './error-meanings.ts';
import { startFootprint, isLocalAddress, placeSamples } from './footprint.ts';
import { mergeResults } from './merge.ts';
import { parseTarget, type Target } from './target.ts';
import { engineResult } from './summarize.ts';
import { verdict } from './verdict.ts';
import { p99OfEncoded, type Recorder } from './recorder.ts';
import { formatHostPort } from '../text/host-port.ts';

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
  /** Connect attempts that failed so far (no request went out on them). */
  connectErrors: number;
  lastSecondRequests: number;
  lastSecondP99Ms: number;
  timeWait?: number;
  /** How old the TIME_WAIT count is: scans space out when they get costly. */
  timeWaitAgeS?: number;
  /** The TIME_WAIT count is the one taken before the load began (no scan since). */
  timeWaitBeforeRun?: boolean;
}

/** What the engines report once a second, added up over threads. */
type OnSecond = (
  completed: number,
  failed: number,
  connectErrors: number,
  lastRequests: number,
  lastP99: number,
) => void;

/** A run's result, and when its measured part began (ms since the epoch) to place kernel samples on its timeline. */
interface Measured {
  result: BenchResult;
  measuredFromMs: number;
}

/** Typed error for a target that cannot be reached at all. */
export class UnreachableError extends TcplensError {}

interface Plan {
  target: Target;
  address: string;
  engine: Omit<EngineConfig, 'target' | 'onSecond' | 'onMeasuring'>;
  workers: number;
  mode: 'keepalive' | 'close';
  method: string;
}

async function plan(o: BenchOptions): Promise<Plan> {
  const target = parseTarget(o.url);
  const method = (o.method ?? 'GET').toUpperCase();
  // Connection: close asks the server to close after every response: keep-alive in name only.
  if (asksClose(o.headers) && o.keepAlive === true) {
    throw new UsageError(
      '-H "Connection: close" means a new connection per request: leave it out for keep-alive, or use --no-keepalive',
    );
  }
  const keepAlive = asksClose(o.headers) ? false : (o.keepAlive ?? true);
  const pipelining = o.pipelining ?? 1;
  if (o.connections !== undefined && (!Number.isInteger(o.connections) || o.connections < 1))
    throw new UsageError('-c must be at least 1');
  if (o.rate !== undefined && !(o.rate > 0)) throw new UsageError('-R (rate) must be more than 0 requests per second');
  if (o.requests !== undefined && (!Number.isInteger(o.requests) || o.requests < 1))
    throw new UsageError('-n must be at least 1');
  // More connections than requests would open connections that never carry one.
  const connections = Math.min(o.connections ?? 64, o.requests ?? Infinity);
  if (o.durationS !== undefined && !(o.durationS > 0)) throw new UsageError('-d must be more than 0 seconds');
  if (o.rate !== undefined && pipelining > 1)
    throw new UsageError('-R and -p cannot go together: the open model sends one request at a time per connection');
  if (!keepAlive && pipelining > 1)
    throw new UsageError(
      '--no-keepalive and -p cannot go together: a connection that closes after one response cannot pipeline',
    );
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
  // Checked before anything touches the network: a request that cannot be right sends nothing.
  const request = buildRequest({ method, url: target.url, headers: o.headers ?? [], body: o.body, keepAlive });
  let address = target.host;
  try {
    address = (await lookup(target.host)).address;
  } catch (err) {
    throw new UnreachableError(`cannot resolve ${target.host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  await preflight(address, target.port, o.connectTimeoutMs ?? 5000);
  const local = isLocalAddress(address);
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1))
    throw new UsageError('-w must be at least 1');
  const asked = o.connections ?? 64;
  if (o.workers !== undefined && o.workers > asked)
    throw new UsageError(`-w ${o.workers} needs at least as many connections (-c ${asked})`);
  // Every thread needs a connection, and with -n a request, of its own.
  const workers = Math.min(o.workers ?? (local ? 1 : Math.max(1, availableParallelism())), connections);
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
      durationMs:
        o.requests === undefined
          ? (o.durationS ?? 10) * 1000
          : o.durationS === undefined
            ? undefined
            : o.durationS * 1000,
      ratePerSec: o.rate,
      timeoutMs: o.timeoutMs ?? 10_000,
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
      warmupMs: (o.warmupS ?? 0) * 1000,
    },
  };
}

/**
 * One connection before the run, so a dead target costs one clear line instead of a run of errors.
 * It ends with RST, not FIN: a FIN would leave this host a TIME_WAIT towards the target that the
 * run's footprint would then find there "before the run".
 */
function preflight(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UnreachableError(`cannot reach ${formatHostPort(host, port)}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.resetAndDestroy();
      resolve();
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new UnreachableError(`cannot reach ${formatHostPort(host, port)}: ${describeConnectFailure(err)}`));
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
  const startedMs = performance.timeOrigin + started;
  const progress: OnSecond = (completed, failed, connectErrors, lastRequests, lastP99) => {
    const l = footprint?.latest();
    o.onProgress?.({
      elapsedS: (performance.now() - started) / 1000,
      completed,
      failed,
      connectErrors,
      lastSecondRequests: lastRequests,
      lastSecondP99Ms: lastP99,
      timeWait: l ? l.sample.timeWaitClient + l.sample.timeWaitServer : undefined,
      timeWaitAgeS: l && l.ageMs / 1000,
      timeWaitBeforeRun: l ? l.sample.atMs < startedMs : undefined,
    });
  };

  // Warm-up is not counted: the kernel footprint starts again when the measured part begins.
  let measuring = !p.engine.warmupMs;
  const onMeasuring = (atMs: number) => {
    if (measuring) return;
    measuring = true;
    footprint?.markMeasuring(atMs);
  };
  let measured: Measured;
  try {
    measured =
      p.workers === 1
        ? await runHere(p, targetForEngine, o, progress, onMeasuring)
        : await runOnWorkers(p, o, progress, onMeasuring);
  } catch (err) {
    await footprint?.stop();
    throw err;
  }
  const result = measured.result;
  result.target = p.target.url.href;
  if (o.signal?.aborted) result.interrupted = true;
  if (!measuring) {
    // Stopped before warm-up ended: nothing was measured, and a table of zeros would say otherwise.
    result.interruptedInWarmup = true;
    result.verdict = [];
    await footprint?.stop();
    return result;
  }
  if (footprint) {
    result.kernel = await footprint.stop();
    placeSamples(result.timeline, footprint.samples, measured.measuredFromMs);
    result.verdict = verdict(result);
  }
  return result;
}

async function runHere(
  p: Plan,
  target: Target,
  o: BenchOptions,
  progress: OnSecond,
  onMeasuring: (atMs: number) => void,
): Promise<Measured> {
  const engine = new Engine({
    ...p.engine,
    target,
    onMeasuring,
    onSecond: (rec: Recorder) => {
      const last = rec.timeline.at(-1);
      progress(rec.completed, rec.failed, rec.connectErrors, last?.requests ?? 0, p99OfEncoded(last?.histogram));
    },
  });
  const onAbort = () => engine.stop();
  o.signal?.addEventListener('abort', onAbort);
  try {
    const done = engine.run();
    if (o.signal?.aborted) engine.stop();
    await done;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return {
    result: engineResult(engine, { target: p.target.url.href, mode: p.mode, method: p.method }),
    measuredFromMs: engine.measuredFromMs,
  };
}

interface WorkerMessage {
  type: 'second' | 'measuring' | 'result' | 'error';
  completed?: number;
  failed?: number;
  connectErrors?: number;
  lastRequests?: number;
  lastP99?: number;
  result?: BenchResult;
  measuredFromMs?: number;
  message?: string;
}

async function runOnWorkers(
  p: Plan,
  o: BenchOptions,
  progress: OnSecond,
  onMeasuring: (atMs: number) => void,
): Promise<Measured> {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const url = new URL(`./engine-worker${ext}`, import.meta.url);
  const states = Array.from({ length: p.workers }, () => ({
    completed: 0,
    failed: 0,
    connectErrors: 0,
    lastRequests: 0,
    lastP99: 0,
  }));
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
    return new Promise<Measured>((resolve, reject) => {
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'second') {
          Object.assign(state, {
            completed: m.completed,
            failed: m.failed,
            connectErrors: m.connectErrors,
            lastRequests: m.lastRequests,
            lastP99: m.lastP99,
          });
          if (i === 0) {
            const sum = (f: (s: (typeof states)[number]) => number) => states.reduce((a, s) => a + f(s), 0);
            progress(
              sum((s) => s.completed),
              sum((s) => s.failed),
              sum((s) => s.connectErrors),
              sum((s) => s.lastRequests),
              Math.max(...states.map((s) => s.lastP99)),
            );
          }
        } else if (m.type === 'measuring') {
          // The threads end warm-up within milliseconds of each other: the first starts the count.
          onMeasuring(m.measuredFromMs!);
        } else if (m.type === 'result') {
          resolve({ result: m.result!, measuredFromMs: m.measuredFromMs! });
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
  if (o.signal?.aborted) onAbort();
  let results: Measured[];
  try {
    results = await Promise.all(pending);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    for (const w of workers) void w.terminate();
  }
  // Failed connects, warm-up connections and a thread that gave up are added up there too.
  const merged = mergeResults(results.map((r) => r.result));
  delete merged.merged;
  merged.workers = p.workers;
  // The timeline's seconds are each thread's own; the threads start within milliseconds of each other.
  return { result: merged, measuredFromMs: Math.min(...results.map((r) => r.measuredFromMs)) };
}
