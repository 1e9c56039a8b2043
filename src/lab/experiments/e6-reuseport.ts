// E6 of the lab: one listener vs node:cluster vs SO_REUSEPORT workers — throughput, and how the
// connections are spread over the workers (read from serve's x-tcplens-worker header).

import { availableParallelism } from 'node:os';
import type { Cell, Experiment, LabChart, LabContext } from '../experiment.ts';
import { startServe, labPlace, type Place, runScriptJson } from '../steps.ts';
import { formatCell } from '../../text/number.ts';
import type { Load, LoadResult, Spread } from '../scripts/worker-spread.ts';

/** Sockets listening on the port, as ss sees them in the server's namespace; undefined without ss. */
async function listeners(ctx: LabContext, p: Place, port: number): Promise<number | undefined> {
  const r = await ctx.run(['ss', '-Hltn', `sport = :${port}`], { ns: p.serverNs, timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l.trim()).length : undefined;
}

interface Mode {
  key: 'single' | 'cluster' | 'reuseport';
  label: string;
  args: string[];
}

/** Counts per worker, largest first. */
const counts = (c: Record<string, number>) => Object.values(c).sort((a, b) => b - a);
/** (most − least) as a share of an even split, in %; 0 for one worker. */
function imbalancePct(c: Record<string, number>, workers: number): number {
  const v = counts(c);
  while (v.length < workers) v.push(0);
  const total = v.reduce((a, b) => a + b, 0);
  if (workers < 2 || total === 0) return 0;
  return Math.round(((v[0]! - v.at(-1)!) / (total / workers)) * 100);
}
/** How much the larger of a and b is above the smaller, in % of the smaller: 988 vs 466 → 112. */
export const abovePct = (a: number, b: number) =>
  Math.round((Math.max(a, b) / Math.max(1e-9, Math.min(a, b)) - 1) * 100);

export interface Throughput {
  /** "New connections", "Keep-alive requests". */
  what: string;
  unit: string;
  /** Per mode, in the order single, cluster, reuseport. */
  values: { key: string; label: string; perSecond: number }[];
  /** The one listener measured again at the end: the noise of this machine. */
  again: number;
}

/**
 * What the throughput numbers say. On 2 cores or fewer, shared by the load generator and every server,
 * more workers have no idle core to win on and the repeat of one server differs by tens of percent:
 * the numbers are reported as noise, not ranked. On more cores, a lead counts only beyond twice what
 * the repeat differed (at least 10%).
 */
export function throughputVerdict(runs: Throughput[], cores: number): string {
  const n = (x: number) => formatCell(Math.round(x));
  const named = (t: Throughput) => `${t.values.map((v) => `${v.key} ${n(v.perSecond)}`).join(', ')} ${t.unit}`;
  const repeat = (t: Throughput) =>
    `${n(t.values[0]!.perSecond)} then ${n(t.again)} (${abovePct(t.values[0]!.perSecond, t.again)}% apart)`;
  if (cores <= 2) {
    return (
      `Throughput is noise on this machine, not a ranking: its ${cores} cores carry the load generator and the servers, so more workers have no idle core to win on, ` +
      `and the one listener measured twice gave ${runs.map((t) => `${repeat(t)} ${t.unit}`).join('; ')}. ` +
      `For the record: ${runs.map((t) => `${t.what.toLowerCase()} ${named(t)}`).join('; ')}.`
    );
  }
  const verdicts = runs.map((t) => {
    const noise = Math.max(10, 2 * abovePct(t.values[0]!.perSecond, t.again));
    const vs = t.values.map((v) => v.perSecond);
    const best = vs.indexOf(Math.max(...vs));
    const worst = vs.indexOf(Math.min(...vs));
    const diff = abovePct(vs[best]!, vs[worst]!);
    return diff <= noise
      ? `${t.what} (${named(t)}) were within the noise: the best ${diff}% above the worst, where the one listener measured twice gave ${repeat(t)} and a lead counts only beyond ${noise}%`
      : `${t.what}: ${t.values[best]!.label} led (${named(t)}; ${diff}% above ${t.values[worst]!.key}, beyond the ${noise}% that twice the repeat's difference allows)`;
  });
  return `${verdicts.join('; ')}; on ${cores} cores.`;
}

const MEASURES = {
  full: 'It measures throughput with keep-alive and with a new connection per request',
  quick:
    'It measures throughput with a new connection per request (keep-alive throughput only in a full run, not in --quick)',
};

export const experiment: Experiment = {
  id: 'E6',
  title: 'SO_REUSEPORT: one listener vs node:cluster vs reusePort workers',
  shows:
    'Three ways to serve one port: one process with one listening socket; node:cluster, where the primary process accepts every ' +
    'connection and hands it to a worker (round-robin over the workers that are free); and N workers that each own a listening ' +
    'socket on the same port with SO_REUSEPORT, where the kernel picks the socket by a hash of the connection’s addresses and ports. ' +
    `${MEASURES.full}, and how many connections each worker got — short ones, and long-lived ones opened together, which stay on ` +
    'their worker for their whole life.',
  async run(ctx) {
    const quick = ctx.quick;
    const cores = availableParallelism();
    const workers = Math.min(4, Math.max(2, cores));
    const benchS = quick ? 0.4 : 3;
    const spread = { short: quick ? 300 : 2000, concurrency: 16, held: quick ? 32 : 64 };
    const modes: Mode[] = [
      { key: 'single', label: 'one listener', args: [] },
      { key: 'cluster', label: `node:cluster, ${workers} workers`, args: ['--workers', String(workers)] },
      {
        key: 'reuseport',
        label: `SO_REUSEPORT, ${workers} workers`,
        args: ['--workers', String(workers), '--reuse-port'],
      },
    ];

    const p = await labPlace(ctx);
    ctx.progress(`starting three servers (${p.where})`);
    // All three up front, on their own ports: idle ones cost nothing, and the one listener can be
    // measured again at the end without a restart, which tells the noise of this machine.
    const servers = await Promise.all(
      modes.map((m) => startServe(ctx, { ns: p.serverNs, host: p.host, args: ['--no-debug', ...m.args] })),
    );

    const listening = await Promise.all(servers.map((s) => listeners(ctx, p, s.port)));
    const skipped = listening.includes(undefined) ? ['listening sockets per port: ss (iproute2) did not run'] : [];

    // Quick: new connections only, where the three differ most (who accepts); full: keep-alive too.
    ctx.progress('load on each server, the one listener again for the noise, then who served whom');
    const out = await runScriptJson<LoadResult>(
      ctx,
      p,
      'worker-spread',
      { urls: servers.map((s) => s.url), benchS, quick, ...spread },
      120_000,
    );
    const results = out.runs.map((r, i) => ({ ...r, spread: out.servers[i]! }));
    // serve names its workers in a header: threads with SO_REUSEPORT, processes with node:cluster.
    const kinds = ['single', 'pid ', 'thread '];
    for (const [i, r] of results.entries()) {
      const names = Object.keys(r.spread.short);
      if (!names.every((n) => n.startsWith(kinds[i]!)))
        throw new Error(`${modes[i]!.label}: answered by ${names.join(', ')}, not the expected kind of worker`);
    }
    const again = out.again;

    const rps = (b: Load | undefined) => (b ? Math.round(b.perSecond) : null);
    const rows: Record<string, Cell>[] = modes.map((m, i) => {
      const r = results[i]!;
      const w = m.key === 'single' ? 1 : workers;
      return {
        mode: m.label,
        listeningSockets: listening[i] ?? null,
        newConnPerSec: rps(r.close),
        ...(r.ka ? { rpsKeepalive: rps(r.ka), p99MsKeepalive: Math.round(r.ka.p99Ms * 100) / 100 } : {}),
        errors: (r.ka?.failed ?? 0) + r.close.failed + r.spread.errors,
        shortPerWorker: counts(r.spread.short).join(' / '),
        shortImbalancePct: imbalancePct(r.spread.short, w),
        heldPerWorker: counts(r.spread.held).join(' / '),
        heldImbalancePct: imbalancePct(r.spread.held, w),
      };
    });
    rows.push({
      mode: 'single, again',
      newConnPerSec: rps(again.close),
      ...(again.ka ? { rpsKeepalive: rps(again.ka), p99MsKeepalive: Math.round(again.ka.p99Ms * 100) / 100 } : {}),
      errors: (again.ka?.failed ?? 0) + again.close.failed,
    });

    const workerPoints = (key: 'short' | 'held') =>
      modes.map((m, i) => ({
        label: m.label,
        points: counts(results[i]!.spread[key]).map((n, k) => [`worker ${k + 1}`, n] as [string, number]),
      }));
    const charts: LabChart[] = [
      {
        title: cores <= 2 ? `Throughput (noise on ${cores} shared cores: see the conclusion)` : 'Throughput',
        kind: 'bar',
        xLabel: 'server',
        yLabel: 'per second',
        series: [
          { label: 'new connections/s', points: rows.map((r) => [r.mode as string, r.newConnPerSec as number]) },
          ...(quick
            ? []
            : [
                {
                  label: 'requests/s, keep-alive',
                  points: rows.map((r) => [r.mode as string, r.rpsKeepalive as number] as [string, number]),
                },
              ]),
        ],
      },
      {
        title: `Short connections per worker (${spread.short}, busiest first)`,
        kind: 'bar',
        xLabel: 'worker',
        yLabel: 'connections',
        series: workerPoints('short'),
      },
      {
        title: `Long-lived connections per worker (${spread.held} opened together)`,
        kind: 'bar',
        xLabel: 'worker',
        yLabel: 'connections',
        series: workerPoints('held'),
      },
    ];

    // --- conclusion, from the numbers ---
    const [, cluster, reuse] = results;
    const runsOf = (
      pick: (r: { close: Load; ka?: Load }) => Load | undefined,
      what: string,
      unit: string,
    ): Throughput | undefined => {
      const vs = results.map((r) => pick(r));
      const a = pick(again);
      if (vs.some((v) => !v) || !a) return undefined;
      return {
        what,
        unit,
        values: vs.map((v, i) => ({ key: modes[i]!.key, label: modes[i]!.label, perSecond: v!.perSecond })),
        again: a.perSecond,
      };
    };
    const throughput = [
      runsOf((r) => r.close, 'New connections', 'conn/s'),
      runsOf((r) => r.ka, 'Keep-alive requests', 'req/s'),
    ].filter((t): t is Throughput => t !== undefined);
    const parts: string[] = [throughputVerdict(throughput, cores)];
    const w = workers;
    if (listening[1] !== undefined && listening[2] !== undefined) {
      parts.push(
        `ss counted ${listening[1]} listening socket${listening[1] === 1 ? '' : 's'} on the cluster’s port and ${listening[2]} on the SO_REUSEPORT port.`,
      );
    }
    const describe = (r: Spread, key: 'short' | 'held') =>
      `${counts(r[key]).join(' / ')} (imbalance ${imbalancePct(r[key], w)}%)`;
    parts.push(
      `The spread is the robust signal: node:cluster’s primary gave ${spread.short} short connections as ${describe(cluster!.spread, 'short')} and ${spread.held} long-lived ones as ${describe(cluster!.spread, 'held')}; ` +
        `SO_REUSEPORT’s hash gave ${describe(reuse!.spread, 'short')} and ${describe(reuse!.spread, 'held')}; the one listener served all of them itself.`,
    );
    // The busiest worker's long-lived connections over an even share.
    const excess = (c: Record<string, number>) => {
      const v = counts(c);
      const even = v.reduce((a, b) => a + b, 0) / w;
      return even > 0 ? Math.round(((v[0] ?? 0) / even - 1) * 100) : 0;
    };
    const heldWorst = Math.max(excess(cluster!.spread.held), excess(reuse!.spread.held));
    parts.push(
      heldWorst >= 10
        ? `Neither balances by load: a long-lived connection stays on the worker it landed on, and here the busiest worker held ${heldWorst}% more long-lived connections than an even share; with few, busy keep-alive clients that is where the load goes (maxRequestsPerSocket makes clients reconnect and spread again).`
        : `Both spread the long-lived connections within ${heldWorst}% of an even share here; neither looks at load, so few busy keep-alive clients can still pile onto one worker.`,
    );
    const errors = rows.reduce((a, r) => a + ((r.errors as number) ?? 0), 0);
    if (errors > 0) parts.push(`${errors} requests failed across the runs.`);
    const shows = quick ? experiment.shows.replace(MEASURES.full, MEASURES.quick) : undefined;
    return { rows, charts, conclusion: parts.join(' '), skipped, shows };
  },
};
