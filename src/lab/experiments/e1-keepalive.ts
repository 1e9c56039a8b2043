// E1 of the lab: keep-alive vs a new connection per request — throughput, TIME_WAIT,
// ports consumed, and EADDRNOTAVAIL once the client's port range is narrowed to 1,000 ports.

import type { BenchResult } from '../../model/bench-result.ts';
import type { Cell, Experiment, ExperimentOutcome, LabChart, LabContext } from '../experiment.ts';
import { bench, labScript, ratio, round, timeWaitIn } from '../steps.ts';
import type { Netns } from '../../kernel/netns.ts';
import { formatCount } from '../../text/number.ts';

const NARROW_RANGE = '20000 20999'; // outside the default range: earlier runs' TIME_WAIT cannot hold these ports

type Mode = 'keepalive' | 'close';

/** requested: the -n count; a run that gave up (no port left for --connect-timeout) made fewer. */
export function row(
  mode: Mode,
  b: BenchResult,
  portRange: string,
  timeWait: number,
  requested: number,
): Record<string, Cell> {
  return {
    mode,
    portRange,
    rps: round(b.requests.perSecond, 0),
    p99Ms: round(b.latencyMs.p99, 2),
    timeWaitPeak: timeWait,
    portsPerSec: round(b.newConnectionsPerSecond, 0),
    // Failed requests and failed connects: a connect that fails sends no request, so bench counts it apart.
    errors: b.requests.failed + (b.connectErrors ?? 0),
    // Of those, connects that found no local port (bench's retries included: 10 ms doubling to 1 s).
    eaddrnotavail: b.errors.EADDRNOTAVAIL ?? 0,
    requests: requested,
    ok: b.requests.ok,
    // Requests never sent because bench gave up.
    notMade: Math.max(0, requested - b.requests.total),
    connections: b.connectionsOpened,
  };
}

// formatCount, not toLocaleString: the same grouping without loading ICU's data.
const fmt = (n: number): string => formatCount(Math.round(n));

function times(r: number): string {
  return Number.isFinite(r) ? `${r >= 10 ? fmt(r) : r.toFixed(1)}x` : 'infinitely many times (keep-alive: none)';
}

export function conclude(rows: Record<string, Cell>[], connections: number): string {
  const pick = (mode: Mode, narrow: boolean) =>
    rows.find((r) => r.mode === mode && (r.portRange === NARROW_RANGE.replace(' ', '-')) === narrow);
  const ka = pick('keepalive', false);
  const cl = pick('close', false);
  const parts: string[] = [];
  if (ka && cl) {
    const twKa = Number(ka.timeWaitPeak ?? 0);
    const twCl = Number(cl.timeWaitPeak ?? 0);
    const tw = ratio(twCl, Math.max(twKa, 1));
    parts.push(
      `At ${connections} connections, close mode left ${fmt(twCl)} client TIME_WAIT sockets at peak against ${fmt(twKa)} with keep-alive ` +
        `(${times(tw)}${tw >= 100 ? '' : ', under the 100x one would expect'}), taking ${fmt(Number(cl.portsPerSec))} new ports a second against ${fmt(Number(ka.portsPerSec))}.`,
    );
    const rps = ratio(Number(ka.rps), Number(cl.rps));
    parts.push(
      rps >= 1
        ? `Keep-alive served ${rps.toFixed(1)}x the requests per second (${fmt(Number(ka.rps))} vs ${fmt(Number(cl.rps))}), p99 ${Number(ka.p99Ms).toFixed(1)} ms vs ${Number(cl.p99Ms).toFixed(1)} ms.`
        : `Close mode served more requests per second here (${fmt(Number(cl.rps))} vs ${fmt(Number(ka.rps))}): the handshake cost did not dominate on this link.`,
    );
  }
  const kaN = pick('keepalive', true);
  const clN = pick('close', true);
  if (kaN && clN) {
    const eCl = Number(clN.eaddrnotavail);
    const eKa = Number(kaN.eaddrnotavail);
    const notMade = Number(clN.notMade ?? 0);
    const asked = Number(clN.requests ?? Number(clN.ok) + notMade);
    if (eCl > 0 && eKa === 0) {
      parts.push(
        `With ip_local_port_range narrowed to 1,000 ports, close mode completed ${fmt(Number(clN.ok))} of ${fmt(asked)} requests and then connect() failed with EADDRNOTAVAIL ` +
          `(${fmt(eCl)} attempts, bench retrying with a back-off)` +
          (notMade > 0 ? ` until bench gave up (${fmt(notMade)} requests never made)` : '') +
          `: every port it had used sat in TIME_WAIT for 60 s. Keep-alive completed ${fmt(Number(kaN.ok))} on ${fmt(Number(kaN.connections))} connections without one.`,
      );
    } else {
      parts.push(
        `With 1,000 ports, EADDRNOTAVAIL: close mode ${fmt(eCl)}, keep-alive ${fmt(eKa)}${eCl === 0 ? ' — the range did not run out in this run' : ''}.`,
      );
    }
  }
  return parts.join(' ');
}

function charts(rows: Record<string, Cell>[]): LabChart[] {
  const full = rows.filter((r) => r.portRange !== NARROW_RANGE.replace(' ', '-'));
  const narrow = rows.filter((r) => r.portRange === NARROW_RANGE.replace(' ', '-'));
  const label = (r: Record<string, Cell>) => (r.mode === 'keepalive' ? 'keep-alive' : 'close');
  const out: LabChart[] = [
    {
      title: 'Requests per second',
      kind: 'bar',
      xLabel: 'mode',
      yLabel: 'requests/s',
      series: [{ label: 'requests/s', points: full.map((r) => [label(r), Number(r.rps)]) }],
    },
    {
      title: 'Client TIME_WAIT sockets (peak) and new ports per second',
      kind: 'bar',
      xLabel: 'mode',
      yLabel: 'sockets, ports/s',
      series: [
        { label: 'TIME_WAIT peak', points: full.map((r) => [label(r), Number(r.timeWaitPeak ?? 0)]) },
        { label: 'ports/s', points: full.map((r) => [label(r), Number(r.portsPerSec)]) },
      ],
    },
  ];
  if (narrow.length > 0) {
    out.push({
      title: 'With 1,000 ephemeral ports: requests completed and never made (bench gave up)',
      kind: 'bar',
      xLabel: 'mode',
      yLabel: 'requests',
      series: [
        { label: 'completed', points: narrow.map((r) => [label(r), Number(r.ok)]) },
        { label: 'never made', points: narrow.map((r) => [label(r), Number(r.notMade ?? 0)]) },
      ],
    });
  }
  return out;
}

interface Target {
  url: string;
  port: number;
  ns: Netns | undefined;
}

/** Client TIME_WAIT sockets towards the server whose local port lies in [lo, hi]. */
async function clientTimeWait(ctx: LabContext, t: Target, lo: number, hi: number): Promise<number> {
  const tw = await timeWaitIn(ctx, t.ns, t.port);
  return tw.filter((s) => s.remote.port === t.port && s.local.port >= lo && s.local.port <= hi).length;
}

async function runBoth(
  ctx: LabContext,
  t: Target,
  args: string[],
  portRange: string,
  lo: number,
  hi: number,
): Promise<Record<string, Cell>[]> {
  const requested = Number(args[args.indexOf('-n') + 1]);
  const rows: Record<string, Cell>[] = [];
  for (const mode of ['keepalive', 'close'] as const) {
    ctx.progress(`${mode}${portRange === NARROW_RANGE.replace(' ', '-') ? ' with 1,000 ports' : ''}`);
    // TIME_WAIT lasts 60 s, longer than these runs: what a run adds to the count is what it left.
    const before = await clientTimeWait(ctx, t, lo, hi);
    // Out of ports, every connect fails: bench gives up on a -n run after --connect-timeout of that.
    const b = await bench(ctx, t.url, [...args, ...(mode === 'close' ? ['--no-keepalive'] : [])], {
      ns: t.ns,
      timeoutMs: 120_000,
      acceptGaveUp: true,
    });
    const after = await clientTimeWait(ctx, t, lo, hi);
    // A run longer than TIME_WAIT itself would see its first sockets expire before the count.
    if (b.durationS > 55)
      ctx.progress(`${mode}: the run took ${Math.round(b.durationS)} s, TIME_WAIT counts its last 60 s only`);
    rows.push(row(mode, b, portRange, Math.max(0, after - before), requested));
  }
  return rows;
}

/** The lab's HTTP responder (it never closes first, so the client's close decides where TIME_WAIT lands). */
async function startResponder(ctx: LabContext, ns: Netns | undefined, host: string, port: number): Promise<Target> {
  const p = ctx.start([process.execPath, labScript('http-responder'), host, String(port)], { ns });
  const bound = (JSON.parse(await p.waitFor(/^\{/, 10_000)) as { port: number }).port;
  return { url: `http://${host}:${bound}/`, port: bound, ns };
}

export const experiment: Experiment = {
  id: 'E1',
  title: 'Keep-alive vs short connections',
  shows:
    'The same load, once over kept-alive connections and once with a new TCP connection per request (Connection: close). ' +
    'The side that closes first keeps each connection in TIME_WAIT for 60 s, holding its local port: a client that closes every ' +
    'connection pays a handshake per request and burns ephemeral ports, and once its port range is used up connect() fails with ' +
    'EADDRNOTAVAIL. Keep-alive needs a handful of ports for the whole run.',
  rootFor: 'the 1,000-port part',
  async run(ctx): Promise<ExperimentOutcome> {
    const connections = ctx.quick ? 4 : 32;
    // The same load for both modes: as many requests on as many connections. A count, not a
    // duration, so that the TIME_WAIT ratio does not hang on how fast a busy machine is.
    const requests = ctx.quick ? 1500 : 8000;
    const narrowRequests = ctx.quick ? 1500 : 5000;
    const skipped: string[] = [];
    let rows: Record<string, Cell>[];
    const load = ['-c', String(connections), '-n', String(requests)];
    if (ctx.root) {
      const t = await ctx.topology();
      // Over a veth the default tcp_tw_reuse=2 reuses nothing; 0 says so explicitly.
      t.client.sysctl({ 'net.ipv4.tcp_tw_reuse': 0 });
      const target = await startResponder(ctx, t.server, t.serverAddress, 8080);
      target.ns = t.client;
      const range = await ctx.run(['sysctl', '-n', 'net.ipv4.ip_local_port_range'], { ns: t.client });
      const [lo, hi] = range.stdout.trim().split(/\s+/).map(Number) as [number, number];
      rows = await runBoth(ctx, target, load, `${lo}-${hi}`, lo, hi);
      t.client.sysctl({ 'net.ipv4.ip_local_port_range': NARROW_RANGE });
      const [nlo, nhi] = NARROW_RANGE.split(' ').map(Number) as [number, number];
      const narrowLoad = [
        '-c',
        String(Math.min(connections, 8)),
        '-n',
        String(narrowRequests),
        '--connect-timeout',
        '0.5',
      ];
      rows.push(...(await runBoth(ctx, target, narrowLoad, NARROW_RANGE.replace(' ', '-'), nlo, nhi)));
    } else {
      const target = await startResponder(ctx, undefined, '127.0.0.1', 0);
      rows = await runBoth(ctx, target, load, 'host', 1, 65535);
      skipped.push(
        "EADDRNOTAVAIL with 1,000 ports: narrowing ip_local_port_range needs a network namespace of its own (root); the host's is never changed",
      );
    }
    return { rows, charts: charts(rows), conclusion: conclude(rows, connections), skipped };
  },
};
