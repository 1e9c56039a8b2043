// E5 of the lab: server timeouts — a slowloris crowd cut off by headersTimeout while normal requests
// go on, and the keep-alive idle race of a client that idles longer than the server, with its fixes.

import type { Cell, Experiment, LabChart } from '../experiment.ts';
import { startServe, labPlace, runScriptJson } from '../steps.ts';
import { hardenedSettings } from '../../serve/harden.ts';
import { formatCell } from '../../text/number.ts';
import type { RaceResult } from '../scripts/idle-race.ts';
import type { SlowlorisResult } from '../scripts/slowloris.ts';

const codes = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** One-way latency on the race clients' way to their server. */
const PATH_LATENCY_MS = 30;

interface Latency {
  p50Ms: number;
  p99Ms: number;
  errors: number;
  errorCodes: Record<string, number>;
}

/** ms in a sentence as the table shows it: rounded once, to two decimals, then laid out by formatCell. */
const ms = (x: number) => formatCell(Math.round(x * 100) / 100);

/**
 * Normal requests alone (b) and beside the slow crowd (w): each percentile "kept" only when it is within
 * a millisecond of what it was alone — the words say exactly what was checked — else by how much it rose.
 */
export function normalLatency(b: Latency, w: Latency, crowd: number): string {
  const errors = w.errors > 0 ? ` ${w.errors} of them failed (${codes(w.errorCodes)}).` : ' None failed.';
  const change = (name: string, before: number, after: number) => {
    const d = after - before;
    const was = `${ms(before)} → ${ms(after)} ms`;
    if (Math.abs(d) <= 1) return `kept their ${name} within a millisecond (${was})`;
    const x = after / Math.max(before, 0.001);
    return d > 0
      ? `saw their ${name} rise ${ms(d)} ms${x >= 1.5 ? `, ${x.toFixed(1)}x` : ''} (${was})`
      : `saw their ${name} fall ${ms(-d)} ms (${was})`;
  };
  return `Beside the ${crowd} slow connections, normal requests ${change('median', b.p50Ms, w.p50Ms)} and ${change('p99', b.p99Ms, w.p99Ms)}.${errors}`;
}

export const experiment: Experiment = {
  id: 'E5',
  title: 'Server timeouts: slowloris and the keep-alive idle race',
  shows:
    'Two timeouts every HTTP server needs. headersTimeout: a crowd of connections that send their request head a byte at a time ' +
    '(slowloris) holds sockets and memory until the server cuts them off; with a short headersTimeout the server answers 408 and ' +
    'closes them, while normal requests keep being served. keepAliveTimeout: a client that keeps idle connections longer than the ' +
    'server does (Go’s default is 90 s, load balancers’ often 60 s) now and then reuses one the server is closing at that very ' +
    'moment — any request still on its way when the server closes meets a closed connection — and gets ECONNRESET. Here the ' +
    'clients reach that server over a path with 30 ms of latency (tcplens proxy), as across zones. Keeping the client’s idle ' +
    'timeout below the server’s, or reading the server’s Keep-Alive hint with a margin as tcplens’s pool does, removes the errors.',
  async run(ctx) {
    const quick = ctx.quick;
    const headersTimeoutMs = quick ? 1000 : 2000;
    const keepAliveTimeoutMs = quick ? 100 : 500;
    const slow = {
      rate: quick ? 200 : 300,
      baselineMs: quick ? 1000 : 3000,
      crowdMs: headersTimeoutMs + (quick ? 1000 : 1500),
      crowd: quick ? 200 : 500,
      byteIntervalMs: 200,
    };
    const race = {
      lanes: quick ? 48 : 96,
      rounds: quick ? 2 : 6,
      spreadMs: 4,
      stepMs: 8,
      fixedIdleMs: Math.round(keepAliveTimeoutMs / 2),
    };

    const p = await labPlace(ctx);
    ctx.progress(`starting two servers (${p.where})`);
    const [slowServer, raceServer] = await Promise.all([
      startServe(ctx, {
        ns: p.serverNs,
        host: p.host,
        args: ['--no-debug', '--headers-timeout', String(headersTimeoutMs / 1000)],
      }),
      startServe(ctx, {
        ns: p.serverNs,
        host: p.host,
        args: ['--no-debug', '--keepalive-timeout', String(keepAliveTimeoutMs / 1000)],
      }),
    ]);
    // What serve set for this headersTimeout: Node checks the timeout only this often.
    const checkingMs = hardenedSettings({ headersTimeoutMs }).settings.find(
      (s) => s.name === 'connectionsCheckingInterval',
    )!.value;

    // The race's clients reach their server over a path with some latency (tcplens proxy on the
    // client's side): a request sent less than that before the server closes the connection arrives
    // after it. Without it the window would be the few microseconds of a veth or loopback, and the
    // race a matter of luck.
    const path = ctx.start(
      [
        ...ctx.tcplens,
        'proxy',
        '--listen',
        '127.0.0.1:0',
        '--upstream',
        `${p.host}:${raceServer.port}`,
        '--latency',
        String(PATH_LATENCY_MS),
        '--stream',
        'upstream',
        '--no-api',
        '--json',
      ],
      { ns: p.clientNs, timeoutMs: 300_000 },
    );
    const pathListen = (JSON.parse(await path.waitFor(/^\{"api"/, 15_000)) as { proxies: { listen: string }[] })
      .proxies[0]!.listen;

    ctx.progress(`slowloris crowd of ${slow.crowd} and the idle race, side by side`);
    // Both clients at once, to keep the experiment short: each phase of the slowloris part sees the
    // race's light load alike, and the race's latency window does not depend on a quiet machine.
    const [s, r] = await Promise.all([
      runScriptJson<SlowlorisResult>(ctx, p, 'slowloris', { url: slowServer.url, ...slow }, 60_000),
      runScriptJson<RaceResult>(ctx, p, 'idle-race', { url: `http://${pathListen}/`, ...race }, 120_000),
    ]);

    const [blind, fixed, pooled] = r.clients;
    const rows: Record<string, Cell>[] = [
      // Two tables for slowloris: the normal requests and the slow crowd share no column.
      {
        part: 'slowloris: normal requests',
        case: 'alone',
        requests: s.baseline.requests,
        errors: s.baseline.errors,
        p50Ms: s.baseline.p50Ms,
        p99Ms: s.baseline.p99Ms,
      },
      {
        part: 'slowloris: normal requests',
        case: `beside ${s.crowd.size} slow connections`,
        requests: s.withCrowd.requests,
        errors: s.withCrowd.errors,
        p50Ms: s.withCrowd.p50Ms,
        p99Ms: s.withCrowd.p99Ms,
      },
      {
        part: 'slowloris: slow connections',
        case: `headersTimeout ${headersTimeoutMs} ms`,
        connections: s.crowd.size,
        closedByServer: s.crowd.closedByServer,
        got408: s.crowd.got408,
        closedAfterMsP50: s.crowd.lifetimeMs.p50,
        closedAfterMsMax: s.crowd.lifetimeMs.max,
      },
      ...r.clients.map((c) => ({
        part: 'idle race',
        case: c.client,
        requests: c.afterIdle,
        errors: c.errors,
        reused: c.reused,
      })),
    ];

    const charts: LabChart[] = [
      {
        title: `Slow connections still open (headersTimeout ${headersTimeoutMs} ms)`,
        kind: 'line',
        xLabel: 'ms since the crowd began to connect',
        yLabel: 'connections',
        series: [
          { label: 'open slow connections', points: s.crowd.timeline.length ? s.crowd.timeline : [[0, s.crowd.size]] },
        ],
      },
      {
        title: 'Slowest normal request per 100 ms (the crowd arrives at 0)',
        kind: 'line',
        xLabel: 'ms since the crowd began to connect',
        yLabel: 'ms',
        series: [{ label: 'max latency', points: s.latencyTimeline.length ? s.latencyTimeline : [[0, 0]] }],
      },
      {
        title: 'Normal requests, alone and beside the crowd',
        kind: 'bar',
        xLabel: 'case',
        yLabel: 'ms',
        series: [
          {
            label: 'p50',
            points: [
              ['alone', s.baseline.p50Ms],
              ['beside the crowd', s.withCrowd.p50Ms],
            ],
          },
          {
            label: 'p99',
            points: [
              ['alone', s.baseline.p99Ms],
              ['beside the crowd', s.withCrowd.p99Ms],
            ],
          },
        ],
      },
      {
        title: `Keep-alive idle race: failed requests of ${blind.afterIdle} after an idle gap`,
        kind: 'bar',
        xLabel: 'client',
        yLabel: 'failed requests',
        series: [{ label: 'errors', points: r.clients.map((c) => [c.client, c.errors] as [string, number]) }],
      },
    ];

    // --- conclusion, from the numbers ---
    const parts: string[] = [];
    const c = s.crowd;
    const bound = headersTimeoutMs + checkingMs;
    if (c.closedByServer === c.size && c.lifetimeMs.max <= bound + 250) {
      parts.push(
        `The server cut off all ${c.size} slow connections after ${Math.round(c.lifetimeMs.min)}–${Math.round(c.lifetimeMs.max)} ms ` +
          `(headersTimeout ${headersTimeoutMs} ms, checked every ${checkingMs} ms), ${c.got408} of them with a 408, each having sent ~${Math.round(c.bytesSentMean)} bytes.`,
      );
    } else if (c.stillOpenAtEnd > 0) {
      parts.push(
        `${c.stillOpenAtEnd} of ${c.size} slow connections were still open after ${slow.crowdMs} ms, although headersTimeout is ${headersTimeoutMs} ms: the crowd held its sockets.`,
      );
    } else {
      parts.push(
        `The server closed the ${c.size} slow connections, but only after up to ${Math.round(c.lifetimeMs.max)} ms — later than headersTimeout ${headersTimeoutMs} ms plus the ${checkingMs} ms checking interval.`,
      );
    }
    parts.push(normalLatency(s.baseline, s.withCrowd, c.size));
    const extraMs = r.serverIdleCloseMs - keepAliveTimeoutMs;
    parts.push(
      `The race server (reached over a path that delays requests by ${PATH_LATENCY_MS} ms; keepAliveTimeout ${keepAliveTimeoutMs} ms, advertising "Keep-Alive: ${r.keepAliveHeader ?? 'none'}") closed idle connections ${r.serverIdleCloseMs} ms after its last response` +
        (extraMs > 500
          ? ` — ${extraMs} ms later than configured: Node adds server.keepAliveTimeoutBuffer for clients that read the hint.`
          : '.'),
    );
    const fixErrors = fixed.errors + pooled.errors;
    if (blind.errors > 0 && fixErrors === 0) {
      parts.push(
        `Reusing connections just as they idled out, the client whose idle timeout is longer than the server’s failed ${blind.errors} of ${blind.afterIdle} requests (${codes(blind.errorCodes)}): ` +
          `requests that reused a connection the server closed while they were on their way. ` +
          `On the same schedule a client idling ${race.fixedIdleMs} ms at most failed ${fixed.errors} and tcplens’s createPool (the server’s hint minus a margin, retries of idempotent requests) failed ${pooled.errors}. ` +
          (fixed.reused + pooled.reused === 0
            ? 'The fixes pay with a new connection after each idle gap: they reused none.'
            : `The fixes reused ${fixed.reused} and ${pooled.reused} idle connections without an error.`),
      );
    } else if (blind.errors === 0) {
      parts.push(
        `This time the race did not strike: the client with the longer idle timeout failed 0 of ${blind.afterIdle} requests (it reused ${blind.reused} idle connections), so the fix could not be shown.`,
      );
    } else {
      parts.push(
        `The long-idle client failed ${blind.errors} of ${blind.afterIdle} requests, but the fixes failed too (${fixed.errors} with the short idle timeout, ${pooled.errors} with createPool).`,
      );
    }
    return { rows, charts, conclusion: parts.join(' ') };
  },
};
