// The panel of drops and resets by the kernel's reason (--ebpf): a chart of their rates over time,
// one series per reason as it first appears, and the totals since the trace began; or why there is none.

import type { DashboardFrame, DashboardHello } from '../../src/observe/dashboard-protocol.ts';
import { LiveChart, PALETTE } from './charts.ts';
import { byId, empty, fmtCount, h } from './format.ts';

const chart = new LiveChart(byId('chart-reasons'), [], { yLabel: 'per second', unit: '/s' });
const keys: string[] = [];

/** What the page says when there is no trace. */
export function renderEbpfState(ebpf: DashboardHello['ebpf']): void {
  const card = byId('reasons-card');
  card.dataset.tracing = String(ebpf.tracing);
  const why = byId('reasons-why');
  byId('chart-reasons').hidden = !ebpf.tracing;
  if (ebpf.tracing) {
    why.hidden = true;
    return;
  }
  why.hidden = false;
  why.textContent =
    ebpf.why ??
    'Not traced: start the dashboard with --ebpf, as root with bpftrace installed, to see why the kernel drops packets and resets connections.';
  byId('reasons-totals').replaceChildren(empty("Nothing traced (see the chart's note)."));
}

export function addReasonPoint(f: DashboardFrame): void {
  const r = f.reasons;
  if (!r) return;
  for (const k of Object.keys(r.totals)) {
    if (keys.includes(k)) continue;
    keys.push(k);
    chart.addSeries({ label: k, color: PALETTE[(keys.length - 1) % PALETTE.length]!, dash: k.startsWith('reset') });
  }
  // The first frame has no rate yet: a gap, not a zero.
  chart.push(
    f.t,
    keys.map((k) => (r.rates ? (r.rates[k] ?? 0) : null)),
  );
}

export function drawReasons(): void {
  if (chart.seriesCount > 0) chart.draw();
}

export function renderReasonTotals(f: DashboardFrame): void {
  const r = f.reasons;
  if (!r) return;
  const el = byId('reasons-totals');
  const rows = Object.entries(r.totals)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const notes = [
    r.running ? null : h('p', { class: 'root' }, 'The trace has ended: these totals no longer grow.'),
    r.lostEvents > 0
      ? h(
          'p',
          { class: 'more' },
          `${fmtCount(r.lostEvents)} events lost by the kernel or bpftrace: the counts are short by at most that`,
        )
      : null,
  ];
  if (rows.length === 0) {
    el.replaceChildren(empty('No drops or resets since the trace began.'), ...notes.filter((n) => n !== null));
    return;
  }
  el.replaceChildren(
    h(
      'table',
      { class: 'counts' },
      h('thead', {}, h('tr', {}, h('th', {}, 'reason'), h('th', { class: 'num' }, 'since the trace began'))),
      h(
        'tbody',
        {},
        ...rows.map(([k, n]) =>
          h('tr', { 'data-key': k }, h('td', { class: 'mono' }, k), h('td', { class: 'num mono' }, fmtCount(n))),
        ),
      ),
    ),
    ...notes.filter((n) => n !== null),
  );
}
