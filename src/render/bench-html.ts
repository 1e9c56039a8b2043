// A self-contained HTML report of bench runs: summary, latency over time, the percentile curve,
// TIME_WAIT and ports over time. Charts are uPlot, inlined, so the file opens with no network.

import type { BenchResult } from '../model/bench-result.ts';
import { percentileCurve } from '../analyze/percentile-curve.ts';
import { asset, escapeHtml } from './html.ts';
import { formatCount } from '../text/number.ts';
import { formatDuration, partialNote, warmupOf } from './bench.ts';
import { timeWaitAddedOf } from '../bench/verdict.ts';

export function renderBenchHtml(runs: BenchResult[]): string {
  const data = runs.map((r) => ({
    name: r.mode === 'keepalive' ? 'keep-alive' : 'close',
    t: r.timeline.map((p) => p.t),
    rps: r.timeline.map((p) => p.requests),
    p50: r.timeline.map((p) => p.p50Ms),
    p99: r.timeline.map((p) => p.p99Ms),
    tw: r.timeline.map((p) => p.timeWait ?? null),
    ports: r.timeline.map((p) => p.ephemeralPorts ?? null),
    curve: percentileCurve(r),
  }));
  const rows = runs
    .map(
      (r) =>
        `<tr><td>${r.mode === 'keepalive' ? 'keep-alive' : 'close'}</td><td>${formatCount(Math.round(r.requests.perSecond))}</td>` +
        `<td>${r.latencyMs.p50}</td><td>${r.latencyMs.p99}</td><td>${r.latencyMs.max}</td><td>${formatCount(r.requests.failed + (r.connectErrors ?? 0))}</td>` +
        `<td>${r.kernel ? formatCount(timeWaitAddedOf(r.kernel)) : '-'}</td>` +
        `<td>${formatCount(r.connectionsOpened)}${r.connectionsFromWarmup ? ` (+${formatCount(r.connectionsFromWarmup)} open from warm-up)` : ''}</td></tr>`,
    )
    .join('');
  const verdicts = runs
    .flatMap((r) =>
      r.verdict.map((v) => `<li class="${v.severity}"><b>${escapeHtml(r.mode)}</b> ${escapeHtml(v.text)}</li>`),
    )
    .join('');
  const first = runs[0]!;
  const partial = runs
    .map((r) => {
      const note = partialNote(r);
      return note
        ? `<p class="partial">${runs.length > 1 ? `<b>${escapeHtml(r.mode)}</b> ` : ''}${escapeHtml(note)}</p>`
        : '';
    })
    .join('');
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tcplens bench — ${escapeHtml(first.target)}</title>
<style>${asset('uplot/dist/uPlot.min.css')}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.chart{margin:16px 0}li.critical{color:#b00}li.warning{color:#a60}li.ok{color:#070}.partial{color:#a60;font-weight:bold}</style>
</head><body>
<h1>tcplens bench</h1>
<p>${escapeHtml(first.method)} ${escapeHtml(first.target)} · ${formatCount(first.connections)} concurrent connections (-c)${first.rate ? ` · ${formatCount(first.rate)} req/s asked (-R)` : ''} · ${formatDuration(first.durationS)} per run${warmupOf(first) ? `, measured after ${warmupOf(first)} s of warm-up` : ''}</p>
${partial}
<table><tr><th>mode</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th><th>errors</th><th>TIME_WAIT added</th><th>connections opened</th></tr>${rows}</table>
<ul>${verdicts}</ul>
<h2>Requests per second</h2><div class="chart" id="rps"></div>
<h2>Latency over time (p50, p99)</h2><div class="chart" id="lat"></div>
<h2>Latency by percentile</h2><div class="chart" id="curve"></div>
<h2>TIME_WAIT and ephemeral ports</h2><div class="chart" id="tw"></div>
<script type="application/json" id="data">${json}</script>
<script>${asset('uplot/dist/uPlot.iife.min.js')}</script>
<script>
const runs = JSON.parse(document.getElementById('data').textContent);
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const width = Math.min(1000, document.body.clientWidth - 20);
function timeChart(el, series, unit) {
  const xs = runs.reduce((a, r) => (r.t.length > a.length ? r.t : a), []);
  const data = [xs];
  const s = [{ label: 's' }];
  series.forEach(([label, pick, dash], i) => runs.forEach((r, j) => {
    data.push(xs.map((_, k) => pick(r)[k] ?? null));
    s.push({ label: r.name + ' ' + label, stroke: colors[j % colors.length], dash: dash ? [6, 4] : undefined, width: 2 });
  }));
  new uPlot({ width, height: 260, scales: { x: { time: false } }, axes: [{ label: 'seconds' }, { label: unit, size: 70 }], series: s }, data, document.getElementById(el));
}
timeChart('rps', [['req/s', (r) => r.rps]], 'requests/s');
timeChart('lat', [['p50', (r) => r.p50], ['p99', (r) => r.p99, true]], 'ms');
timeChart('tw', [['TIME_WAIT', (r) => r.tw], ['ports', (r) => r.ports, true]], 'sockets');
{
  const xs = runs[0].curve.x;
  const data = [xs, ...runs.map((r) => xs.map((_, k) => r.curve.y[k] ?? null))];
  const names = { 1: '0%', 2: '50%', 10: '90%', 100: '99%', 1000: '99.9%', 10000: '99.99%', 100000: '99.999%' };
  new uPlot({ width, height: 300, scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
    axes: [{ label: 'percentile', values: (u, v) => v.map((x) => names[Math.round(x)] ?? '') }, { label: 'ms', size: 60 }],
    series: [{ label: 'percentile', value: (u, x) => x == null ? '' : (100 - 100 / x).toFixed(3) + '%' },
      ...runs.map((r, j) => ({ label: r.name, stroke: colors[j % colors.length], width: 2 }))] }, data, document.getElementById('curve'));
}
</script>
</body></html>
`;
}
