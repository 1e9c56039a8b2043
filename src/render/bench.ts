// Text for `tcplens bench`: the summary of one run, and the side-by-side table of --compare.

import type { BenchResult, Percentiles } from '../model/bench-result.ts';
import { portsPerSecond } from '../bench/verdict.ts';
import { type Color, formatCount, paint, renderTable } from './table.ts';

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
  return [name, ms(p.p50), ms(p.p75), ms(p.p90), ms(p.p99), ms(p.p999), ms(p.p9999), ms(p.max), `${ms(p.mean)} ± ${ms(p.stdev)}`];
}

const SEVERITY: Record<string, [string, Color | undefined]> = {
  critical: ['✖', 'red'],
  warning: ['!', 'yellow'],
  info: ['·', undefined],
  ok: ['✔', 'green'],
};

export function renderBench(r: BenchResult, color: boolean): string {
  const out: string[] = [];
  const mode = r.mode === 'keepalive' ? 'keep-alive' : 'a new connection per request';
  const shape = r.rate ? `open model at ${formatCount(r.rate)} req/s` : `${r.connections} connections${r.pipelining > 1 ? `, pipelining ${r.pipelining}` : ''}`;
  out.push(`${r.method} ${r.target} — ${mode}, ${shape}, ${r.workers} worker${r.workers > 1 ? 's' : ''}, ${r.durationS.toFixed(1)} s${r.merged ? `, ${r.merged} results merged` : ''}\n\n`);
  if (r.requests.total > 0 && r.requests.failed === r.requests.total) {
    // Nothing succeeded: one line that says why, and the errors, instead of a table of zeros.
    const top = r.errorDetails[0];
    out.push(paint(`Every one of ${formatCount(r.requests.total)} requests failed`, 'red', color));
    out.push(top ? `: ${top.code} (${top.first}) — ${top.meaning}\n` : '\n');
    if (r.errorDetails.length > 1) {
      out.push(r.errorDetails.slice(1).map((e) => `  also ${e.code} ×${formatCount(e.count)}: ${e.first}\n`).join(''));
    }
    return out.join('');
  }
  out.push(
    `Requests   ${formatCount(r.requests.total)} total, ${formatCount(r.requests.ok)} ok, ${formatCount(r.requests.failed)} failed · ` +
      `${paint(formatCount(Math.round(r.requests.perSecond)) + '/s', 'bold', color)} · ${bytes(r.bytes.perSecond)}/s read\n`,
  );
  const churn = r.mode === 'close' || r.connectionsOpened > r.connections ? ` (${formatCount(Math.round(r.newConnectionsPerSecond))} new/s)` : '';
  out.push(`Connections ${formatCount(r.connectionsOpened)} opened${churn}\n\n`);
  const rows = [percentileRow(r.rate ? 'Latency*' : 'Latency', r.latencyMs)];
  if (r.connectMs) rows.push(percentileRow('Connect', r.connectMs));
  if (r.tlsMs) rows.push(percentileRow('TLS', r.tlsMs));
  out.push(
    renderTable(
      ['', 'p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'mean ± stdev'].map((h, i) => ({ header: h, align: i === 0 ? 'left' : 'right' })),
      rows,
    ),
  );
  if (r.rate) out.push('* from each request\'s scheduled time (coordinated omission corrected)\n');
  const statuses = Object.entries(r.statuses);
  if (statuses.length) {
    out.push(`\nStatuses   ${statuses.map(([code, n]) => paint(`${code}: ${formatCount(n)}`, Number(code) >= 500 ? 'red' : Number(code) >= 400 ? 'yellow' : undefined, color)).join('  ')}\n`);
  }
  if (r.errorDetails.length) {
    out.push('\nErrors\n');
    out.push(
      renderTable(
        [{ header: 'code' }, { header: 'count', align: 'right' }, { header: 'first message' }, { header: 'meaning' }],
        r.errorDetails.map((e) => [paint(e.code, 'red', color), formatCount(e.count), e.first.slice(0, 60), e.meaning]),
      ),
    );
  }
  const k = r.kernel;
  if (k) {
    const c = k.counters;
    const d = (key: string) => formatCount(c[key] ?? 0);
    out.push(
      `\nKernel     TIME_WAIT peak ${formatCount(k.timeWaitPeak)} (client side ${formatCount(k.timeWaitPeakClientSide)}, server side ${formatCount(k.timeWaitPeakServerSide)}${k.timeWaitAtStart ? `; ${formatCount(k.timeWaitAtStart)} there before the run` : ''}) · ` +
        `ephemeral ports peak ${formatCount(k.ephemeralPortsPeak)} of ${formatCount(k.ephemeralPortsUsable)}\n` +
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

/** The handbook's table 2.4, measured: modes side by side. */
export function renderCompare(runs: BenchResult[], color: boolean): string {
  const rows = runs.map((r) => [
    r.mode === 'keepalive' ? 'keep-alive' : 'close',
    formatCount(Math.round(r.requests.perSecond)),
    ms(r.latencyMs.mean),
    ms(r.latencyMs.p99),
    r.kernel ? formatCount(r.kernel.timeWaitPeak) : '-',
    formatCount(Math.round(portsPerSecond(r))),
    r.requests.failed ? paint(formatCount(r.requests.failed), 'red', color) : '0',
  ]);
  const table = renderTable(
    [
      { header: 'mode' },
      { header: 'req/s', align: 'right' },
      { header: 'mean', align: 'right' },
      { header: 'p99', align: 'right' },
      { header: 'TIME_WAIT peak', align: 'right' },
      { header: 'ports/s', align: 'right' },
      { header: 'errors', align: 'right' },
    ],
    rows,
  );
  const verdicts = runs
    .flatMap((r) =>
      r.verdict.map((v) => {
        const [mark, col] = SEVERITY[v.severity] ?? ['·', undefined];
        return `  ${paint(mark, col, color)} ${r.mode === 'keepalive' ? 'keep-alive' : 'close'}: ${v.text.replace(/^keep-alive: /, '')}\n`;
      }),
    )
    .join('');
  return `${runs[0]?.method ?? 'GET'} ${runs[0]?.target ?? ''}, ${runs[0]?.connections} connections, ${runs[0]?.durationS.toFixed(1)} s each\n\n${table}${verdicts ? `\n${verdicts}` : ''}`;
}
