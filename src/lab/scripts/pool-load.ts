// E7's client: the same stream of requests (Poisson arrivals at a fixed mean rate, same seed) sent
// through tcplens pools (createPool) of several sizes; for each, the pool's queue wait, the latency
// from each request's arrival, the event-loop delay of this process, and how many requests queued.
// Prints one JSON line.
//
// argv[2]: {"url","rate","durationMs","sizes":[…] | null,"calibrate"}
// With sizes null, it first measures the service time and sizes the pools itself: 2, Little's law
// (rate × service time, rounded up) and twice that.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createPool, type PoolStats } from '../../pool/pool.ts';
import { percentileOfSorted } from '../../text/percentile.ts';
import { setTimeout as sleep } from 'node:timers/promises';

interface Config {
  url: string;
  rate: number;
  durationMs: number;
  sizes: number[] | null;
  /** Sequential requests that measure the service time. */
  calibrate: number;
}

/** One pool size under the stream. */
export interface PoolRun {
  connections: number;
  requests: number;
  completedPerSec: number;
  /** From the first arrival to the last answer: longer than the stream when a queue had to drain. */
  elapsedMs: number;
  errors: Record<string, number>;
  queueWaitMs: PoolStats['queueWaitMs'];
  /** From each request's arrival. */
  latencyMs: { p50: number; p99: number; max: number };
  loopDelayMs: { p50: number; p99: number; max: number };
  peakQueued: number;
  /** [ms since the first arrival, requests waiting for a connection]. */
  queued: [number, number][];
  connected: number;
}

/** What this script prints (E7 reads it). */
export interface PoolResult {
  /** Median answer time on a warm connection. */
  serviceMs: number;
  /** rate × serviceMs: connections busy on average. */
  little: number;
  rate: number;
  runs: PoolRun[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const target = new URL(config.url);

const round = (x: number) => Math.round(x * 100) / 100;

/** mulberry32: every pool size meets the very same arrivals. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arrival times (ms from start) of a Poisson stream at `rate` per second over durationMs. */
function arrivals(): number[] {
  const next = random(9);
  const out: number[] = [];
  for (let t = 0; ; ) {
    t += (-Math.log(1 - next()) * 1000) / config.rate;
    if (t >= config.durationMs) return out;
    out.push(t);
  }
}

async function serviceTimeMs(): Promise<number> {
  const pool = createPool(target.origin, { connections: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < config.calibrate + 1; i++) {
      const t0 = performance.now();
      const r = await pool.request({ path: target.pathname });
      await r.body.text();
      // The first one pays for the connection; a warm pool does not.
      if (i > 0) times.push(performance.now() - t0);
    }
  } finally {
    await pool.close();
  }
  return percentileOfSorted(
    times.sort((a, b) => a - b),
    50,
  );
}

async function drive(connections: number, schedule: number[]): Promise<PoolRun> {
  const pool = createPool(target.origin, { connections });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const queued: [number, number][] = [];
  let peakQueued = 0;
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const q = pool.stats().pending;
    peakQueued = Math.max(peakQueued, q);
    queued.push([Math.round(performance.now() - t0), q]);
  }, 50);
  loop.enable();
  const inFlight: Promise<void>[] = [];
  for (const at of schedule) {
    await sleep(Math.max(0, at - (performance.now() - t0)));
    inFlight.push(
      (async () => {
        try {
          const r = await pool.request({ path: target.pathname });
          await r.body.text();
          // From the request's arrival: a request that waited in the queue waited for its caller too.
          latencies.push(performance.now() - t0 - at);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'error';
          errors[code] = (errors[code] ?? 0) + 1;
        }
      })(),
    );
  }
  await Promise.all(inFlight);
  const elapsedMs = performance.now() - t0;
  loop.disable();
  clearInterval(sampler);
  queued.push([Math.round(elapsedMs), pool.stats().pending]);
  const stats = pool.stats();
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    connections,
    requests: schedule.length,
    completedPerSec: round((latencies.length / elapsedMs) * 1000),
    elapsedMs: Math.round(elapsedMs),
    errors,
    queueWaitMs: stats.queueWaitMs,
    latencyMs: {
      p50: round(percentileOfSorted(latencies, 50)),
      p99: round(percentileOfSorted(latencies, 99)),
      max: round(latencies.at(-1) ?? 0),
    },
    loopDelayMs: {
      p50: round(loop.percentile(50) / 1e6),
      p99: round(loop.percentile(99) / 1e6),
      max: round(loop.max / 1e6),
    },
    peakQueued,
    queued,
    connected: stats.connected,
  };
}

const serviceMs = await serviceTimeMs();
const little = (config.rate * serviceMs) / 1000;
const sizes = config.sizes ?? [2, Math.max(3, Math.ceil(little)), Math.max(4, 2 * Math.ceil(little))];
const schedule = arrivals();
const runs = [];
for (const size of sizes) runs.push(await drive(size, schedule));
const result: PoolResult = { serviceMs: round(serviceMs), little: round(little), rate: config.rate, runs };
process.stdout.write(JSON.stringify(result) + '\n');
