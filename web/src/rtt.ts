// RTT of ESTABLISHED connections from tcp_info: p50, p90 and p99 over time (a band of quantiles), and
// per peer (the top N by connections, then "other") with retransmits; or why there is none.

import type { DashboardFrame, PeerRttView } from '../../src/observe/dashboard-protocol.ts';
import { LiveChart, PALETTE } from './charts.ts';
import { byId, empty, fmtCount, h } from './format.ts';

const chart = new LiveChart(
  byId('chart-rtt'),
  [
    { label: 'p50', color: PALETTE[2]! },
    { label: 'p90', color: PALETTE[4]! },
    { label: 'p99', color: PALETTE[1]!, dash: true },
  ],
  // Loopback and LAN RTTs are tens of microseconds.
  { yLabel: 'ms', unit: ' ms', digits: 3 },
);

/** Milliseconds as ss prints them: to the microsecond below 10 ms. */
export const fmtMs = (ms: number | null): string => (ms === null ? '–' : ms >= 10 ? ms.toFixed(1) : ms.toFixed(3));

export function addRttPoint(f: DashboardFrame): void {
  const r = f.rtt;
  chart.push(f.t, r && r.why === null ? [r.p50Ms, r.p90Ms, r.p99Ms] : [null, null, null]);
}

export function drawRtt(): void {
  chart.draw();
}

function peerRow(p: PeerRttView): HTMLElement {
  return h(
    'tr',
    { 'data-key': p.peer },
    h('td', { class: 'mono' }, p.peer),
    h('td', { class: 'num mono' }, fmtCount(p.connections)),
    h('td', { class: 'num mono' }, fmtMs(p.rttMedianMs)),
    h('td', { class: 'num mono' }, fmtMs(p.rttP99Ms)),
    h('td', { class: 'num mono' }, fmtCount(p.retransmits)),
  );
}

export function renderRtt(f: DashboardFrame): void {
  const r = f.rtt;
  const el = byId('rtt-peers');
  const why = byId('rtt-why');
  if (!r) return;
  why.hidden = r.why === null;
  if (r.why !== null) {
    why.textContent = `No RTTs: ${r.why}`;
    el.replaceChildren(empty('tcp_info is read through netlink, which cannot be used here.'));
    return;
  }
  byId('rtt-summary').textContent =
    `${fmtCount(r.connections)} connections · p50 ${fmtMs(r.p50Ms)} · p99 ${fmtMs(r.p99Ms)} ms`;
  if (r.peers.length === 0) {
    el.replaceChildren(empty('No ESTABLISHED connections.'));
    return;
  }
  el.replaceChildren(
    h(
      'table',
      { class: 'counts' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'peer'),
          h('th', { class: 'num' }, 'connections'),
          h('th', { class: 'num' }, 'RTT p50 ms'),
          h('th', { class: 'num' }, 'RTT p99 ms'),
          h('th', { class: 'num' }, 'retransmits'),
        ),
      ),
      h('tbody', {}, ...r.peers.map(peerRow)),
    ),
  );
}
