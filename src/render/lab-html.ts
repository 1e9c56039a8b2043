// The lab's self-contained HTML report: per experiment what it shows, its measured table, its charts
// (uPlot, inlined, so the file opens with no network) and the conclusion computed from the numbers.

import type { ExperimentResult, LabChart } from '../lab/experiment.ts';
import type { LabReport } from '../lab/runner.ts';
import { interruptedText, tableBlocks } from './lab.ts';
import { asset, escapeHtml } from './html.ts';

/** A chart as uPlot wants it: one shared x, one y array per series (null where a series has no point). */
export interface ChartData {
  title: string;
  kind: 'bar' | 'line';
  xLabel: string;
  yLabel: string;
  /** Category names of a bar chart, by x index. */
  categories: string[] | null;
  labels: string[];
  data: (number | null)[][];
}

export function chartData(c: LabChart): ChartData {
  const categorical = c.kind === 'bar' || c.series.some((s) => s.points.some(([x]) => typeof x === 'string'));
  if (categorical) {
    const categories: string[] = [];
    for (const s of c.series)
      for (const [x] of s.points) if (!categories.includes(String(x))) categories.push(String(x));
    const ys = c.series.map((s) => categories.map((cat) => s.points.find(([x]) => String(x) === cat)?.[1] ?? null));
    return {
      title: c.title,
      kind: 'bar',
      xLabel: c.xLabel,
      yLabel: c.yLabel,
      categories,
      labels: c.series.map((s) => s.label),
      data: [categories.map((_, i) => i), ...ys],
    };
  }
  const xs = [...new Set(c.series.flatMap((s) => s.points.map(([x]) => x as number)))].sort((a, b) => a - b);
  const ys = c.series.map((s) => {
    const byX = new Map(s.points.map(([x, y]) => [x as number, y]));
    return xs.map((x) => byX.get(x) ?? null);
  });
  return {
    title: c.title,
    kind: 'line',
    xLabel: c.xLabel,
    yLabel: c.yLabel,
    categories: null,
    labels: c.series.map((s) => s.label),
    data: [xs, ...ys],
  };
}

function experimentHtml(r: ExperimentResult, index: number): string {
  let s = `<section id="${r.id}"><h2>${r.id} · ${escapeHtml(r.title)} <small>${(r.durationMs / 1000).toFixed(1)} s</small></h2>\n<p class="shows">${escapeHtml(r.shows)}</p>\n`;
  if (r.skippedWhy) return s + `<p class="skip">Skipped: ${escapeHtml(r.skippedWhy)}</p></section>\n`;
  for (const b of tableBlocks(r.rows, r.blanks, r.hidden)) {
    const td = (cell: string, i: number) =>
      b.transposed && i === 0
        ? `<th>${escapeHtml(cell)}</th>`
        : `<td class="${b.numeric[i] ? 'n' : ''}">${escapeHtml(cell)}</td>`;
    s += `<div class="scroll"><table>${b.title ? `<caption>${escapeHtml(b.title)}</caption>` : ''}<tr>${b.headers.map((h, i) => `<th${b.transposed && i > 0 ? ' class="n"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr>`;
    for (const row of b.cells) s += `<tr>${row.map(td).join('')}</tr>`;
    s += '</table></div>\n';
  }
  if (r.error) s += `<p class="error">Failed: ${escapeHtml(r.error)}</p>\n`;
  r.charts.forEach((c, j) => {
    s += `<figure><figcaption>${escapeHtml(c.title)}</figcaption><div class="chart" id="chart-${index}-${j}"></div></figure>\n`;
  });
  s += `<p class="conclusion">${escapeHtml(r.conclusion)}</p>\n`;
  for (const why of r.skipped ?? []) s += `<p class="skip">Skipped: ${escapeHtml(why)}</p>\n`;
  return s + '</section>\n';
}

export function renderLabHtml(report: LabReport): string {
  const charts = report.experiments.flatMap((r, i) =>
    r.skippedWhy ? [] : r.charts.map((c, j) => ({ id: `chart-${i}-${j}`, ...chartData(c) })),
  );
  // "<" escaped so that no string in the data can close the script element.
  const json = JSON.stringify(charts).replace(/</g, '\\u003c');
  const toc = report.experiments.map((r) => `<a href="#${r.id}">${r.id}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tcplens lab — ${escapeHtml(report.kernel)}</title>
<style>${asset('uplot/dist/uPlot.min.css')}
body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;padding:0 12px}
table{border-collapse:collapse;margin:8px 0}.scroll{overflow-x:auto}td,th{padding:3px 9px;white-space:nowrap;border-bottom:1px solid #ddd;text-align:left}caption{text-align:left;font-weight:600;padding:4px 0}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
section{border-top:2px solid #eee;margin-top:28px}h2 small{color:#888;font-weight:normal;font-size:13px}.shows{color:#555}
.conclusion{background:#f2f7ff;border-left:4px solid #1f77b4;padding:8px 12px}.skip{color:#a60}.error{color:#b00}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}</style>
</head><body>
<h1>tcplens lab</h1>
<p>kernel ${escapeHtml(report.kernel)} · ${report.root ? 'root: client and server in network namespaces of their own' : 'not root: loopback only'}${report.quick ? ' · --quick' : ''} · ${escapeHtml(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s</p>
${report.interrupted ? `<p class="error">The run was ${escapeHtml(interruptedText(report))}.</p>` : ''}
<p>${toc}</p>
${report.experiments.map(experimentHtml).join('')}
<script type="application/json" id="data">${json}</script>
<script>${asset('uplot/dist/uPlot.iife.min.js')}</script>
<script>
const charts = JSON.parse(document.getElementById('data').textContent);
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const width = Math.min(980, document.body.clientWidth - 30);
for (const c of charts) {
  const n = c.labels.length;
  const w = 0.8 / Math.max(1, n);
  const series = [{ label: c.xLabel, value: c.categories ? (u, v) => (v == null ? '' : c.categories[v] ?? '') : undefined }];
  c.labels.forEach((label, i) => {
    const color = colors[i % colors.length];
    if (c.kind === 'bar') {
      // Grouped bars: series i of n drawn in its own slice of each category's slot (x0 and width in data units).
      const paths = uPlot.paths.bars({ disp: { x0: { unit: 1, values: (u) => u.data[0].map((x) => x - 0.4 + i * w) }, size: { unit: 1, values: () => [w] } } });
      series.push({ label, stroke: color, fill: color + 'cc', width: 1, paths, points: { show: false } });
    } else {
      series.push({ label, stroke: color, width: 2, spanGaps: true, points: { size: 5 } });
    }
  });
  const x = c.categories
    ? { time: false, range: (u) => [-0.5, c.categories.length - 0.5] }
    : { time: false };
  const axes = [
    c.categories
      ? { label: c.xLabel, splits: () => c.categories.map((_, i) => i), values: (u, v) => v.map((i) => c.categories[i] ?? '') }
      : { label: c.xLabel },
    { label: c.yLabel, size: 70 },
  ];
  new uPlot({ width, height: 260, legend: { live: false }, scales: { x, y: { range: (u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] } }, axes, series }, c.data, document.getElementById(c.id));
}
</script>
</body></html>
`;
}
