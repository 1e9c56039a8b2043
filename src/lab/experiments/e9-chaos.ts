// E9 of the lab: chaos — tcplens proxy in HTTP mode delays 5% of the calls between two services by
// 200 ms–2 s; the caller's clients see it with and without a circuit breaker (examples/circuit-breaker).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labPlace } from '../steps.ts';
import { formatCell } from '../../text/number.ts';
import type { Cell, Experiment, LabChart } from '../experiment.ts';

// The example ships with the source tree (examples/ is not part of the npm package), as TypeScript
// that Node runs directly.
const EXAMPLE = fileURLToPath(new URL('../../../examples/circuit-breaker/', import.meta.url));

export interface CallerRun {
  breaker: boolean;
  requests: number;
  ok: number;
  fromBackend: number;
  fallbacks: number;
  timeouts: number;
  shortCircuited: number;
  breakerOpens: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  durationMs: number;
  /** Clients calling at once, each sending its next call when its last ends (closed loop). */
  concurrency?: number;
}

interface ProxyStats {
  requestsTotal: number;
  toxics: { requestsAffected: number }[];
}

const TOXICITY = 0.05;
const LATENCY = '200ms-2s';
const BREAKER_TIMEOUT_MS = 150;
/** The context's default bound on a started process is 60 s; a full run may need longer. */
const LIFETIME_MS = 300_000;

export interface ChaosRun {
  caller: CallerRun;
  /** Calls the proxy delayed (its own count); NaN when its stats line was not read. */
  injected: number;
  proxied: number;
}

const CONCURRENCY = 16;
const concurrencyText = (c: CallerRun) => `the ${c.concurrency ?? CONCURRENCY} concurrent clients`;

/** ms in a sentence as the table shows it (formatCell), from the caller's own tenths. */
const msText = (x: number) => formatCell(Math.round(x * 10) / 10);

/**
 * The conclusion, from the runs with (on) and without (off) the breaker: what it did to the tail, what
 * it cost at the median, and what it really was in this run — a timeout only, when it never
 * short-circuited a call.
 */
export function conclude(on: ChaosRun, off: ChaosRun): string {
  const parts: string[] = [];
  const injected = (r: ChaosRun) => (Number.isNaN(r.injected) ? 'a share' : `${r.injected}`);
  const a = on.caller;
  const b = off.caller;
  parts.push(
    `The proxy delayed ${injected(off)} of ${off.proxied} calls by 200 ms–2 s without the breaker; the caller’s clients saw p99 ${msText(b.latencyMs.p99)} ms and max ${msText(b.latencyMs.max)} ms` +
      ` (p50 ${msText(b.latencyMs.p50)} ms), and ${b.requests} requests took ${b.durationMs} ms.`,
  );
  const maxVsTimeout = a.latencyMs.max / BREAKER_TIMEOUT_MS;
  const maxText =
    maxVsTimeout <= 1.25
      ? `max ${msText(a.latencyMs.max)} ms, near its ${BREAKER_TIMEOUT_MS} ms timeout`
      : `max ${msText(a.latencyMs.max)} ms, ${maxVsTimeout.toFixed(1)}x its ${BREAKER_TIMEOUT_MS} ms timeout`;
  parts.push(
    a.latencyMs.p99 < b.latencyMs.p99
      ? `With the breaker (${injected(on)} calls delayed) p99 fell to ${msText(a.latencyMs.p99)} ms, ${(b.latencyMs.p99 / Math.max(1, a.latencyMs.p99)).toFixed(1)}x lower, ${maxText}, ` +
          `and the same requests took ${a.durationMs} ms.`
      : `With the breaker p99 was ${msText(a.latencyMs.p99)} ms, not lower than without it: the injected delays did not reach the tail here (${injected(on)} calls delayed).`,
  );
  // Not the breaker's cost: the load is closed-loop (each of the callers sends its next call when the
  // last one ends), so a run that cuts slow calls short also sends more calls a second, on the same
  // cores, and its median moves with that load as much as with the breaker.
  const rate = (c: CallerRun) => Math.round((c.requests / Math.max(1, c.durationMs)) * 1000);
  const rates = `${formatCell(rate(a))} calls/s with it against ${formatCell(rate(b))} without`;
  const similar = Math.max(rate(a), rate(b)) <= 1.2 * Math.min(rate(a), rate(b));
  parts.push(
    `Medians: p50 ${msText(a.latencyMs.p50)} ms with the breaker, ${msText(b.latencyMs.p50)} ms without. ` +
      (similar
        ? `The runs went at similar rates (${rates}), but the clients wait for each answer before the next call, so this is not a fixed-load comparison of the breaker's cost.`
        : `That difference is not the breaker's cost: ${concurrencyText(a)} wait for each answer before the next call, so the runs went at different rates (${rates}).`),
  );
  const timeoutPct = (a.timeouts / Math.max(1, a.requests)) * 100;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  parts.push(
    `The price: ${a.fallbacks} of ${a.requests} answers came from the fallback (${plural(a.timeouts, 'timeout')}, ${a.shortCircuited} short-circuited). ` +
      (a.breakerOpens === 0
        ? `The breaker never opened${timeoutPct < 5 ? ` (${timeoutPct.toFixed(1)}% of calls timed out, under its 5% threshold)` : ''}: in this run it acted only as a timeout.`
        : a.shortCircuited === 0
          ? `It opened ${a.breakerOpens === 1 ? 'once' : `${a.breakerOpens} times`} but short-circuited no call: in this run the breaker acted only as a timeout.`
          : `It opened ${a.breakerOpens === 1 ? 'once' : `${a.breakerOpens} times`} and answered ${a.shortCircuited} calls from the fallback without trying them.` +
            (a.shortCircuited > a.timeouts * 5
              ? ' Most fallbacks were calls the breaker never tried: an open breaker also refuses the 95% of calls that would have been fast.'
              : '')),
  );
  const errors = [a, b].reduce((n, c) => n + c.errors + (c.requests - c.ok), 0);
  if (errors > 0) parts.push(`${errors} requests failed outright.`);
  return parts.join(' ');
}

export const experiment: Experiment = {
  id: 'E9',
  title: 'Chaos: injected latency with and without a circuit breaker',
  shows:
    'A storefront service calls an inventory service through tcplens proxy in HTTP mode, which holds 5% of the responses for ' +
    '200 ms–2 s: does one slow dependency make the whole service slow? Without protection every delayed call passes its delay on to the ' +
    'storefront’s own clients, so their p99 becomes the injected latency. With an opossum circuit breaker (timeout 150 ms, ' +
    'fallback “stock unknown”, opens above 5% errors) slow calls are cut at the timeout and, once the breaker opens, skipped ' +
    'altogether for a while: the p99 stays near the timeout, paid for in answers that come from the fallback. The load is ' +
    `closed-loop (${CONCURRENCY} clients, each calling again when its answer comes), so the two runs need not go at the same rate.`,
  async run(ctx) {
    const runScript = `${EXAMPLE}run.ts`;
    const backendScript = `${EXAMPLE}backend.ts`;
    if (!existsSync(runScript) || !existsSync(backendScript)) {
      return {
        rows: [],
        charts: [],
        conclusion:
          'Not run: examples/circuit-breaker is not here (it comes with the source tree, not with the npm package).',
        skipped: [`the whole experiment: ${EXAMPLE} is missing`],
      };
    }
    const quick = ctx.quick;
    const requests = quick ? 500 : 2000;
    const concurrency = CONCURRENCY;

    const p = await labPlace(ctx);
    ctx.progress(`starting the inventory service and two proxies (${p.where})`);
    // The inventory service listens on loopback next to its proxies (a sidecar): the calls cross the
    // lab's link between the caller and the proxy, which is where the faults are injected.
    const backend = ctx.start([process.execPath, backendScript, '0'], { ns: p.serverNs, timeoutMs: LIFETIME_MS });
    const backendUrl = /(http:\/\/\S+)/.exec(await backend.waitFor(/inventory backend on http:\/\//, 15_000))![1]!;
    // One proxy per run, so that each run's injected faults are counted on their own.
    const startProxy = async () => {
      const proc = ctx.start(
        [
          ...ctx.tcplens,
          'proxy',
          '--listen',
          `${p.host}:0`,
          '--upstream',
          new URL(backendUrl).host,
          '--http',
          '--latency',
          LATENCY,
          '--toxicity',
          String(TOXICITY),
          '--no-api',
          '--json',
        ],
        { ns: p.serverNs, timeoutMs: LIFETIME_MS },
      );
      const start = JSON.parse(await proc.waitFor(/^\{"api"/, 15_000)) as { proxies: { listen: string }[] };
      return { proc, listen: start.proxies[0]!.listen };
    };
    const proxies = await Promise.all([startProxy(), startProxy()]);

    const runs: ChaosRun[] = [];
    for (const [i, breaker] of [true, false].entries()) {
      ctx.progress(`${requests} calls ${breaker ? 'with' : 'without'} the circuit breaker`);
      const argv = [
        process.execPath,
        runScript,
        '--via',
        `http://${proxies[i]!.listen}`,
        '--requests',
        String(requests),
        '--concurrency',
        String(concurrency),
        '--timeout-ms',
        String(BREAKER_TIMEOUT_MS),
        '--json',
      ];
      const r = await ctx.run(breaker ? argv : [...argv, '--no-breaker'], { ns: p.clientNs, timeoutMs: 120_000 });
      const last = r.stdout.trim().split('\n').at(-1) ?? '';
      if (r.code !== 0 || !last.startsWith('{'))
        throw new Error(
          `circuit-breaker run failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        );
      const caller = { ...(JSON.parse(last) as CallerRun), concurrency };
      // Its shutdown line counts what it did to this run's calls (the context kills it if it lingers).
      const proxy = proxies[i]!.proc;
      proxy.kill('SIGTERM');
      const statsLine = await proxy.waitFor(/^\{"stats"/, 5_000).catch(() => undefined);
      const stats = statsLine ? (JSON.parse(statsLine) as { stats: ProxyStats[] }).stats[0] : undefined;
      runs.push({ caller, injected: stats?.toxics[0]?.requestsAffected ?? NaN, proxied: stats?.requestsTotal ?? NaN });
    }
    const [on, off] = runs as [ChaosRun, ChaosRun];

    const label = (r: CallerRun) => (r.breaker ? 'with the breaker' : 'without');
    const rows: Record<string, Cell>[] = runs.map(({ caller: c, injected, proxied }) => ({
      caller: label(c),
      requests: c.requests,
      delayedByProxy: Number.isNaN(injected) ? null : injected,
      callsThroughProxy: Number.isNaN(proxied) ? null : proxied,
      p50Ms: c.latencyMs.p50,
      p99Ms: c.latencyMs.p99,
      maxMs: c.latencyMs.max,
      fallbacks: c.fallbacks,
      timeouts: c.timeouts,
      shortCircuited: c.shortCircuited,
      breakerOpens: c.breakerOpens,
      errors: c.errors + (c.requests - c.ok),
      durationMs: c.durationMs,
      callsPerSec: Math.round((c.requests / Math.max(1, c.durationMs)) * 1000),
    }));
    const charts: LabChart[] = [
      {
        title: 'Caller latency seen by its clients',
        kind: 'bar',
        xLabel: 'caller',
        yLabel: 'ms',
        series: (['p50', 'p99'] as const).map((q) => ({
          label: q,
          points: runs.map(({ caller: c }) => [label(c), c.latencyMs[q]] as [string, number]),
        })),
      },
      {
        title: 'Where the answers came from',
        kind: 'bar',
        xLabel: 'caller',
        yLabel: 'answers',
        series: [
          {
            label: 'inventory service',
            points: runs.map(({ caller: c }) => [label(c), c.fromBackend] as [string, number]),
          },
          { label: 'fallback', points: runs.map(({ caller: c }) => [label(c), c.fallbacks] as [string, number]) },
        ],
      },
    ];

    return { rows, charts, conclusion: conclude(on, off) };
  },
};
