// Text for `tcplens bench`: the summary of one run, and the side-by-side table of --compare.

import type { BenchResult, Percentiles } from '../model/bench-result.ts';
import { countOf, portsPerSecond, timeWaitAddedOf } from '../bench/verdict.ts';
import { oneLineMessage } from '../bench/error-meanings.ts';
import { formatCount } from '../text/number.ts';
import { type Color, paint, renderTable } from './table.ts';

function ms(x: number): string {
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  if (x >= 100) return `${x.toFixed(0)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function percentileRow(name: string, p: Percentiles): string[] {
  return [
    name,
    ms(p.p50),
    ms(p.p75),
    ms(p.p90),
    ms(p.p99),
    ms(p.p999),
    ms(p.p9999),
    ms(p.max),
    `${ms(p.mean)} ± ${ms(p.stdev)}`,
  ];
}

const SEVERITY: Record<string, [string, Color | undefined]> = {
  critical: ['✖', 'red'],
  warning: ['!', 'yellow'],
  info: ['·', undefined],
  ok: ['✔', 'green'],
};

/** Cut to n characters, saying so with an ellipsis. */
export function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** The warm-up, when the result says one ran (results from older versions have no warmupS). */
export function warmupOf(r: BenchResult): number {
  return typeof r.warmupS === 'number' && r.warmupS > 0 ? r.warmupS : 0;
}

/** A run's length: "15 ms" below a second (a -n run can be that short), else "3.0 s". */
export function formatDuration(seconds: number): string {
  const msTotal = Math.round(seconds * 1000);
  return msTotal < 1000 ? `${msTotal} ms` : `${seconds.toFixed(1)} s`;
}

/** Why a result is partial, in words; undefined when it is whole. */
export function partialNote(r: BenchResult): string | undefined {
  if (r.interruptedInWarmup) return `interrupted during the ${warmupOf(r)} s warm-up (Ctrl-C): nothing was measured`;
  if (r.interrupted) return `interrupted after ${formatDuration(r.durationS)} (Ctrl-C): a partial result`;
  if (r.gaveUp) {
    return (
      `gave up after ${formatDuration(r.durationS)}: every connection attempt failed for --connect-timeout in a row, ` +
      `so fewer requests than -n were sent (${formatCount(r.requests.total)})`
    );
  }
  return undefined;
}

export function renderBench(r: BenchResult, color: boolean): string {
  const out: string[] = [];
  const mode = r.mode === 'keepalive' ? 'keep-alive' : 'a new connection per request';
  // Connections asked for; with failed connects, how many of them were ever opened.
  const opened = r.connectionsOpened + (r.connectionsFromWarmup ?? 0);
  const conns = `${countOf(r.connections, 'connection')}${r.connectErrors && r.mode === 'keepalive' && opened < r.connections ? ` (${formatCount(opened)} could be opened)` : ''}`;
  const shape = r.rate
    ? `open model at ${formatCount(r.rate)} req/s over ${conns}`
    : `${conns}${r.pipelining > 1 ? `, pipelining ${r.pipelining}` : ''}`;
  const warmup = warmupOf(r) ? ` after ${warmupOf(r)} s of warm-up` : '';
  const merged = r.merged ? `, ${r.merged} result${r.merged === 1 ? '' : 's'} merged` : '';
  out.push(
    `${r.method} ${r.target} — ${mode}, ${shape}, ${r.workers} worker${r.workers > 1 ? 's' : ''}, ${formatDuration(r.durationS)}${warmup}${merged}\n`,
  );
  if (r.interruptedInWarmup) {
    // One line, not a table of zeros that would read as a result.
    return `${r.method} ${r.target} — ${paint(`interrupted during the ${warmupOf(r)} s warm-up (Ctrl-C): nothing was measured`, 'yellow', color)}\n`;
  }
  const partial = partialNote(r);
  if (partial) out.push(`${paint(partial[0]!.toUpperCase() + partial.slice(1), 'yellow', color)}\n`);
  out.push('\n');
  const connectErrors = r.connectErrors ?? 0;
  if ((r.requests.total > 0 || connectErrors > 0) && r.requests.failed === r.requests.total) {
    // Nothing succeeded: one line that says why, and the errors, instead of a table of zeros.
    const top = r.errorDetails[0];
    const head =
      r.requests.total === 0
        ? `No connection could be opened (${countOf(connectErrors, 'attempt')})`
        : `Every one of ${formatCount(r.requests.total)} requests failed${connectErrors ? `, and ${countOf(connectErrors, 'connection attempt')}` : ''}`;
    out.push(paint(head, 'red', color));
    out.push(top ? `: ${top.code} (${oneLineMessage(top.first)}) — ${top.meaning}\n` : '\n');
    if (r.errorDetails.length > 1) {
      out.push(
        r.errorDetails
          .slice(1)
          .map((e) => `  also ${e.code} ×${formatCount(e.count)}: ${oneLineMessage(e.first)}\n`)
          .join(''),
      );
    }
    return out.join('');
  }
  out.push(
    `Requests   ${formatCount(r.requests.total)} total, ${formatCount(r.requests.ok)} ok, ${formatCount(r.requests.failed)} failed · ` +
      `${paint(formatCount(Math.round(r.requests.perSecond)) + '/s', 'bold', color)} · ${bytes(r.bytes.perSecond)}/s read\n`,
  );
  // With keep-alive, new connections beyond the first pool (a pool from warm-up was opened before) are reconnections.
  const firstPool = Math.max(0, r.connections - (r.connectionsFromWarmup ?? 0));
  const churn =
    r.mode === 'close' || r.connectionsOpened > firstPool
      ? ` (${formatCount(Math.round(r.newConnectionsPerSecond))} new/s)`
      : '';
  const fromWarmup = r.connectionsFromWarmup ? `, ${formatCount(r.connectionsFromWarmup)} open from warm-up` : '';
  const refused = connectErrors ? `, ${paint(`${formatCount(connectErrors)} failed to connect`, 'red', color)}` : '';
  out.push(`Connections ${formatCount(r.connectionsOpened)} opened${churn}${fromWarmup}${refused}\n\n`);
  const rows = [percentileRow(r.rate ? 'Latency*' : 'Latency', r.latencyMs)];
  if (r.connectMs) rows.push(percentileRow('Connect', r.connectMs));
  if (r.tlsMs) rows.push(percentileRow('TLS', r.tlsMs));
  out.push(
    renderTable(
      ['', 'p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'mean ± stdev'].map((h, i) => ({
        header: h,
        align: i === 0 ? 'left' : 'right',
      })),
      rows,
    ),
  );
  if (r.rate) out.push("* from each request's scheduled time (coordinated omission corrected)\n");
  const statuses = Object.entries(r.statuses);
  if (statuses.length) {
    out.push(
      `\nStatuses   ${statuses.map(([code, n]) => paint(`${code}: ${formatCount(n)}`, Number(code) >= 500 ? 'red' : Number(code) >= 400 ? 'yellow' : undefined, color)).join('  ')}\n`,
    );
  }
  if (r.errorDetails.length) {
    out.push('\nErrors\n');
    out.push(
      renderTable(
        [{ header: 'code' }, { header: 'count', align: 'right' }, { header: 'first message' }, { header: 'meaning' }],
        r.errorDetails.map((e) => [
          paint(e.code, 'red', color),
          formatCount(e.count),
          clip(oneLineMessage(e.first), 60),
          e.meaning,
        ]),
      ),
    );
  }
  const k = r.kernel;
  if (k) {
    const c = k.counters;
    const d = (key: string) => formatCount(c[key] ?? 0);
    out.push(
      `\nKernel     TIME_WAIT peak ${formatCount(k.timeWaitPeak)} (client side ${formatCount(k.timeWaitPeakClientSide)}, server side ${formatCount(k.timeWaitPeakServerSide)}${k.timeWaitAtStart ? `; ${formatCount(k.timeWaitAtStart)} there before the run, ${formatCount(timeWaitAddedOf(k))} this run's own` : ''}) · ` +
        `ephemeral ports peak ${formatCount(k.ephemeralPortsPeak)} of ${formatCount(k.ephemeralPortsUsable)}\n` +
        (k.fromParts
          ? `           from ${k.fromParts.with} of ${k.fromParts.of} merged results only: the others have no kernel section (--no-kernel, or not Linux)\n`
          : '') +
        `           ListenOverflows +${d('TcpExt.ListenOverflows')} · ListenDrops +${d('TcpExt.ListenDrops')} · SYN cookies +${formatCount((c['TcpExt.SyncookiesSent'] ?? 0) + (c['TcpExt.TCPReqQFullDoCookies'] ?? 0))} · ` +
        `RST sent +${d('Tcp.OutRsts')} · resets +${d('Tcp.EstabResets')} · retransmits +${d('Tcp.RetransSegs')}\n`,
    );
  }
  if (r.verdict.length) {
    out.push('\nVerdict\n');
    for (const v of r.verdict) {
      const [mark, col] = SEVERITY[v.severity] ?? ['·', undefined];
      out.push(`  ${paint(mark, col, color)} ${v.text}\n`);
    }
  }
  return out.join('');
}

/** The modes side by side, as measured. */
export function renderCompare(runs: BenchResult[], color: boolean, missing: string[] = []): string {
  const measured = (r: BenchResult) => !r.interruptedInWarmup;
  const rows = runs.filter(measured).map((r) => [
    r.mode === 'keepalive' ? 'keep-alive' : 'close',
    formatCount(Math.round(r.requests.perSecond)),
    ms(r.latencyMs.mean),
    ms(r.latencyMs.p99),
    // This run's own: a run right after another starts with the other's TIME_WAIT (60 s).
    r.kernel ? formatCount(timeWaitAddedOf(r.kernel)) : '-',
    formatCount(Math.round(portsPerSecond(r))),
    // Failed connects sent no request, but they are errors of the run all the same.
    r.requests.failed + (r.connectErrors ?? 0)
      ? paint(formatCount(r.requests.failed + (r.connectErrors ?? 0)), 'red', color)
      : '0',
  ]);
  const table = renderTable(
    [
      { header: 'mode' },
      { header: 'req/s', align: 'right' },
      { header: 'mean', align: 'right' },
      { header: 'p99', align: 'right' },
      { header: 'TIME_WAIT added', align: 'right' },
      { header: 'ports/s', align: 'right' },
      { header: 'errors', align: 'right' },
    ],
    rows,
  );
  const verdicts = runs
    .filter(measured)
    .flatMap((r) =>
      r.verdict.map((v) => {
        const [mark, col] = SEVERITY[v.severity] ?? ['·', undefined];
        return `  ${paint(mark, col, color)} ${r.mode === 'keepalive' ? 'keep-alive' : 'close'}: ${v.text.replace(/^keep-alive: /, '')}\n`;
      }),
    )
    .join('');
  const partial =
    runs
      .map((r) => {
        const note = partialNote(r);
        return note ? `${paint(`${r.mode === 'keepalive' ? 'keep-alive' : 'close'}: ${note}`, 'yellow', color)}\n` : '';
      })
      .join('') +
    missing
      .map(
        (m) =>
          `${paint(`${m === 'keepalive' ? 'keep-alive' : m}: not run (interrupted before it began)`, 'yellow', color)}\n`,
      )
      .join('');
  const warmup = runs[0] && warmupOf(runs[0]) ? ` after ${warmupOf(runs[0])} s of warm-up` : '';
  // The first run's length: an interrupted last run says its own below the table.
  const length = runs[0] ? formatDuration(runs[0].durationS) : '';
  return `${runs[0]?.method ?? 'GET'} ${runs[0]?.target ?? ''}, ${countOf(runs[0]?.connections ?? 0, 'connection')}, ${length} each${warmup}\n\n${table}${partial}${verdicts ? `\n${verdicts}` : ''}`;
}
