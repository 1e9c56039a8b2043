// E7 of the lab: client pool contention — a pool too small for its load queues requests while the
// event loop idles; Little's law (connections ≈ rate × latency) sizes it, and the queue wait goes.

import type { Cell, Experiment, LabChart } from '../experiment.ts';
import { startServe, labPlace, runScriptJson } from '../steps.ts';
import { formatCell } from '../../text/number.ts';
import type { PoolResult, PoolRun } from '../scripts/pool-load.ts';

/** ms to two decimals: the histogram's microseconds are noise at this scale. */
const ms = (x: number) => Math.round(x * 100) / 100;
/** ms in a sentence as the table shows it: rounded once, as in the rows (ms), then laid out by formatCell. */
const fmt = (raw: number) => formatCell(ms(raw));

/** The conclusion, from the pool script's numbers: too small, Little's law, twice that, in that order. */
export function conclude(r: PoolResult, rate: number, durationMs: number): string {
  const [small, little, double] = r.runs as [PoolRun, PoolRun, PoolRun];
  const parts: string[] = [];
  const capacity = Math.round((small.connections * 1000) / r.serviceMs);
  parts.push(
    `The server answered in ${r.serviceMs} ms, so ${rate} requests/s keep ${r.little.toFixed(2)} connections busy on average (Little’s law). ` +
      // The capacity is an estimate from the service time measured before the runs; the rate the pool
      // really completed is the table's completedPerSec, and the sentence gives both, named as such.
      `${small.connections} connections at ${r.serviceMs} ms an answer can carry ~${capacity} requests/s (an estimate: ${small.connections} × 1000 / ${r.serviceMs}); ` +
      `they completed ${formatCell(small.completedPerSec)}/s measured` +
      (capacity < rate
        ? `: the queue grew to ${small.peakQueued} requests and took ${small.elapsedMs} ms to drain a ${durationMs} ms stream; `
        : `, close to the load: `) +
      `queue wait p50 ${fmt(small.queueWaitMs.p50)} ms, p99 ${fmt(small.queueWaitMs.p99)} ms, caller latency p99 ${fmt(small.latencyMs.p99)} ms.`,
  );
  const loopMax = Math.max(...r.runs.map((run) => run.loopDelayMs.p99));
  parts.push(
    loopMax < small.queueWaitMs.p50 / 2
      ? `The event loop was not the cause: its delay p99 stayed at ${r.runs.map((run) => fmt(run.loopDelayMs.p99)).join(' / ')} ms across the three sizes while requests waited for a connection.`
      : `The event loop was delayed too (p99 ${r.runs.map((run) => fmt(run.loopDelayMs.p99)).join(' / ')} ms), so part of the wait is this process’s own CPU.`,
  );
  const drop = (a: number, b: number) => (b > 0 ? `${Math.round(a / b)}x` : 'to nothing');
  parts.push(
    little.queueWaitMs.p99 < small.queueWaitMs.p99
      ? `Sized by Little’s law (${little.connections} connections) the queue wait p99 fell ${drop(small.queueWaitMs.p99, little.queueWaitMs.p99)} to ${fmt(little.queueWaitMs.p99)} ms, ` +
          `and with ${double.connections} to ${fmt(double.queueWaitMs.p99)} ms` +
          (double.queueWaitMs.p99 < little.queueWaitMs.p99
            ? ': Little’s law gives the average, headroom absorbs the bursts of random arrivals.'
            : '.')
      : `Sizing by Little’s law (${little.connections} connections) did not lower the queue wait here (p99 ${fmt(small.queueWaitMs.p99)} → ${fmt(little.queueWaitMs.p99)} ms).`,
  );
  const errors = r.runs.reduce((a, run) => a + Object.values(run.errors).reduce((x, y) => x + y, 0), 0);
  if (errors > 0) parts.push(`${errors} requests failed.`);
  return parts.join(' ');
}

export const experiment: Experiment = {
  id: 'E7',
  title: 'Pool contention: a client pool too small for its load',
  shows:
    'A service calling another over a keep-alive pool can wait for a free connection before its request even leaves: the time ' +
    'shows in the caller’s latency but not in the callee’s, and not as a busy event loop either. The same stream of requests ' +
    '(random arrivals at a fixed mean rate) goes through tcplens pools of three sizes against a server that answers after 20 ms: ' +
    'too small (2), sized by Little’s law (connections ≈ rate × latency), and twice that. The pool’s queue-wait histogram ' +
    'and the event-loop delay tell contention from a blocked loop.',
  async run(ctx) {
    const quick = ctx.quick;
    const delayMs = 20;
    const rate = quick ? 150 : 200;
    const durationMs = quick ? 1000 : 4000;

    const p = await labPlace(ctx);
    ctx.progress(`starting the server (${p.where})`);
    const server = await startServe(ctx, { ns: p.serverNs, host: p.host, args: ['--no-debug'] });
    ctx.progress(`${rate} requests/s through pools of three sizes`);
    const r = await runScriptJson<PoolResult>(
      ctx,
      p,
      'pool-load',
      { url: `${server.url}delay/${delayMs}`, rate, durationMs, sizes: null, calibrate: 10 },
      120_000,
    );
    // Three sizes, as the script chose them: too small, Little's law, twice that.
    const label = (i: number) =>
      [
        'too small',
        `Little’s law: ${rate}/s × ${r.serviceMs} ms = ${r.little.toFixed(2)}, rounded up`,
        'twice Little’s law',
      ][i]!;

    const rows: Record<string, Cell>[] = r.runs.map((run, i) => ({
      connections: run.connections,
      sizing: label(i),
      requests: run.requests,
      completedPerSec: run.completedPerSec,
      errors: Object.values(run.errors).reduce((a, b) => a + b, 0),
      queueWaitMsP50: ms(run.queueWaitMs.p50),
      queueWaitMsP99: ms(run.queueWaitMs.p99),
      peakQueued: run.peakQueued,
      latencyMsP50: ms(run.latencyMs.p50),
      latencyMsP99: ms(run.latencyMs.p99),
      loopDelayMsP99: ms(run.loopDelayMs.p99),
    }));

    const name = (run: PoolRun) => `${run.connections} connections`;
    const charts: LabChart[] = [
      {
        title: 'Queue wait for a connection',
        kind: 'bar',
        xLabel: 'pool size',
        yLabel: 'ms',
        series: [
          { label: 'p50', points: r.runs.map((run) => [name(run), ms(run.queueWaitMs.p50)] as [string, number]) },
          { label: 'p99', points: r.runs.map((run) => [name(run), ms(run.queueWaitMs.p99)] as [string, number]) },
        ],
      },
      {
        title: 'Requests waiting for a connection',
        kind: 'line',
        xLabel: 'ms since the first request',
        yLabel: 'queued requests',
        series: r.runs.map((run) => ({ label: name(run), points: run.queued.length ? run.queued : [[0, 0]] })),
      },
      {
        title: 'Where the time went (p99)',
        kind: 'bar',
        xLabel: 'pool size',
        yLabel: 'ms',
        series: [
          { label: 'caller latency', points: r.runs.map((run) => [name(run), run.latencyMs.p99] as [string, number]) },
          {
            label: 'event-loop delay',
            points: r.runs.map((run) => [name(run), run.loopDelayMs.p99] as [string, number]),
          },
        ],
      },
    ];

    return { rows, charts, conclusion: conclude(r, rate, durationMs) };
  },
};
