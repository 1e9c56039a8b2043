// A resilience check: the storefront calls the inventory service through
// tcplens proxy in HTTP mode, which delays a share of the requests by 200 ms–2 s; load goes to the
// storefront, and its latency percentiles, fallbacks and breaker openings are printed.
//
//   node examples/circuit-breaker/run.ts [--no-breaker] [--requests 2000] [--concurrency 16]
//        [--toxicity 0.05] [--latency 200-2000] [--timeout-ms 150] [--error-threshold 5] [--reset-ms 1000]
//        [--upstream URL] [--via URL] [--json]
//
// --json prints one line: {"breaker","requests","ok","fromBackend","fallbacks","timeouts","shortCircuited",
// "breakerOpens","errors","latencyMs":{"p50","p90","p99","max"},"injected":{"toxicity","latencyMinMs",
// "latencyMaxMs","requestsAffected"},"durationMs"}

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
// In your own code: import { createProxyServer } from 'tcplens';
import { createProxyServer, type ProxyServer } from '../../src/proxy/server.ts';
import { startBackend, type Backend } from './backend.ts';
import { startCaller, type CallerStats } from './caller.ts';

export interface RunOptions {
  breaker: boolean;
  requests: number;
  concurrency: number;
  toxicity: number;
  latencyMinMs: number;
  latencyMaxMs: number;
  timeoutMs: number;
  errorThresholdPercentage: number;
  resetTimeoutMs: number;
  /** An inventory service already running, instead of our own. */
  upstream?: string;
  /** A proxy already running in front of the inventory service: no toxic is added then. */
  via?: string;
}

export interface RunSummary extends CallerStats {
  breaker: boolean;
  requests: number;
  ok: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  injected: { toxicity: number; latencyMinMs: number; latencyMaxMs: number; requestsAffected: number | null };
  durationMs: number;
}

export const DEFAULTS: RunOptions = {
  breaker: true,
  requests: 2000,
  concurrency: 16,
  toxicity: 0.05,
  latencyMinMs: 200,
  latencyMaxMs: 2000,
  timeoutMs: 150,
  errorThresholdPercentage: 5,
  resetTimeoutMs: 1000,
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export async function run(o: RunOptions): Promise<RunSummary> {
  let backend: Backend | undefined;
  let proxy: ProxyServer | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    let inventoryUrl = o.via;
    if (!inventoryUrl) {
      const upstreamUrl = o.upstream ?? (backend = await startBackend()).url;
      if (backend) closers.push(() => backend!.close());
      // 200 ms–2 s uniform: latency at the middle, jitter half the width.
      const latency = Math.round((o.latencyMinMs + o.latencyMaxMs) / 2);
      proxy = await createProxyServer({
        api: false,
        proxies: [
          {
            name: 'inventory',
            listen: '127.0.0.1:0',
            upstream: new URL(upstreamUrl).host,
            mode: 'http',
            toxics: [
              {
                name: 'slow',
                type: 'latency',
                toxicity: o.toxicity,
                attributes: { latency, jitter: o.latencyMaxMs - latency },
              },
            ],
          },
        ],
      });
      closers.push(() => proxy!.close());
      inventoryUrl = `http://${proxy.proxy('inventory')!.listen}`;
    }
    const caller = await startCaller({
      inventoryUrl,
      breaker: o.breaker,
      timeoutMs: o.timeoutMs,
      errorThresholdPercentage: o.errorThresholdPercentage,
      resetTimeoutMs: o.resetTimeoutMs,
    });
    closers.push(() => caller.close());

    const client = new Pool(caller.url, { connections: o.concurrency });
    closers.push(() => client.close());
    const latencies: number[] = [];
    let ok = 0;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.requests) {
          const id = `p${next++}`;
          const t0 = performance.now();
          const res = await client.request({ path: `/product/${id}`, method: 'GET' });
          await res.body.text();
          latencies.push(performance.now() - t0);
          if (res.statusCode === 200) ok++;
        }
      }),
    );
    const durationMs = performance.now() - start;
    latencies.sort((a, b) => a - b);
    return {
      breaker: o.breaker,
      requests: o.requests,
      ok,
      ...caller.stats(),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1) ?? 0),
      },
      injected: {
        toxicity: o.via ? 0 : o.toxicity,
        latencyMinMs: o.latencyMinMs,
        latencyMaxMs: o.latencyMaxMs,
        requestsAffected: proxy ? proxy.proxy('inventory')!.stats().toxics[0]!.requestsAffected : null,
      },
      durationMs: Math.round(durationMs),
    };
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

function parseCli(argv: string[]): { options: RunOptions; json: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      breaker: { type: 'boolean', default: true },
      'no-breaker': { type: 'boolean' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      toxicity: { type: 'string' },
      latency: { type: 'string' },
      'timeout-ms': { type: 'string' },
      'error-threshold': { type: 'string' },
      'reset-ms': { type: 'string' },
      upstream: { type: 'string' },
      via: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be a number between ${min} and ${max}, not '${raw}'`);
    return n;
  };
  const [lo, hi] = (values.latency ?? `${DEFAULTS.latencyMinMs}-${DEFAULTS.latencyMaxMs}`).split('-').map(Number);
  if (!Number.isFinite(lo) || !Number.isFinite(hi ?? lo) || (hi ?? lo!) < lo!)
    throw new Error(`--latency takes MIN-MAX in ms, not '${values.latency}'`);
  return {
    json: Boolean(values.json),
    options: {
      breaker: !values['no-breaker'],
      requests: num('requests', values.requests, DEFAULTS.requests, 1, 10_000_000),
      concurrency: num('concurrency', values.concurrency, DEFAULTS.concurrency, 1, 10_000),
      toxicity: num('toxicity', values.toxicity, DEFAULTS.toxicity, 0, 1),
      latencyMinMs: lo!,
      latencyMaxMs: hi ?? lo!,
      timeoutMs: num('timeout-ms', values['timeout-ms'], DEFAULTS.timeoutMs, 1, 600_000),
      errorThresholdPercentage: num(
        'error-threshold',
        values['error-threshold'],
        DEFAULTS.errorThresholdPercentage,
        0,
        100,
      ),
      resetTimeoutMs: num('reset-ms', values['reset-ms'], DEFAULTS.resetTimeoutMs, 1, 600_000),
      upstream: values.upstream,
      via: values.via,
    },
  };
}

if (import.meta.main) {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`circuit-breaker: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const s = await run(parsed.options);
  if (parsed.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
  } else {
    const l = s.latencyMs;
    process.stdout.write(
      `breaker ${s.breaker ? 'on' : 'off'}: ${s.requests} requests in ${s.durationMs} ms, ${s.ok} ok; ` +
        `caller latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms\n` +
        `  injected: ${s.injected.latencyMinMs}-${s.injected.latencyMaxMs} ms into ${s.injected.requestsAffected ?? '?'} requests (toxicity ${s.injected.toxicity})\n` +
        `  from backend ${s.fromBackend}, fallbacks ${s.fallbacks} (timeouts ${s.timeouts}, short-circuited ${s.shortCircuited}), breaker opened ${s.breakerOpens} times, errors ${s.errors}\n`,
    );
  }
}
