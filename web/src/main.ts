// The dashboard page: live charts and tables fed by the server's event stream, and the bench viewer.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import type { DashboardFrame } from '../../src/observe/dashboard-protocol.ts';
import { setUpBenchViewer } from './bench-viewer.ts';
import { LiveChart, PALETTE, type SeriesSpec } from './charts.ts';
import { byId, fmtTime } from './format.ts';
import { renderFindings, renderListeners, renderPorts, renderStats } from './panels.ts';
import { addReasonPoint, drawReasons, renderEbpfState, renderReasonTotals } from './reasons.ts';
import { addRttPoint, drawRtt, renderRtt } from './rtt.ts';
import { openStream, type StreamState } from './stream.ts';

const STATES: SeriesSpec[] = [
  'ESTABLISHED',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'LAST_ACK',
  'CLOSING',
  'LISTEN',
].map((label, i) => ({ label, color: PALETTE[i]!, hidden: label === 'LISTEN' }));

const LISTEN_RATES: [string, string][] = [
  ['TcpExt.ListenOverflows', 'ListenOverflows'],
  ['TcpExt.ListenDrops', 'ListenDrops'],
  ['TcpExt.SyncookiesSent', 'SyncookiesSent'],
  ['TcpExt.TCPReqQFullDoCookies', 'TCPReqQFullDoCookies'],
  ['TcpExt.TCPReqQFullDrop', 'TCPReqQFullDrop'],
];
const RESET_RATES: [string, string][] = [
  ['Tcp.EstabResets', 'EstabResets'],
  ['Tcp.OutRsts', 'OutRsts'],
  ['Tcp.AttemptFails', 'AttemptFails'],
  ['Tcp.RetransSegs', 'RetransSegs'],
  ['TcpExt.TCPSynRetrans', 'TCPSynRetrans'],
];

const rateSeries = (list: [string, string][], offset: number): SeriesSpec[] =>
  list.map(([, label], i) => ({ label, color: PALETTE[(i + offset) % PALETTE.length]!, dash: i >= 3 }));

const charts = {
  states: new LiveChart(byId('chart-states'), STATES, { yLabel: 'sockets' }),
  ports: new LiveChart(
    byId('chart-ports'),
    [
      { label: 'TIME_WAIT', color: PALETTE[1]! },
      { label: 'ephemeral ports in use', color: PALETTE[0]! },
    ],
    { yLabel: 'sockets / ports' },
  ),
  listen: new LiveChart(byId('chart-listen'), rateSeries(LISTEN_RATES, 1), { yLabel: 'per second', unit: '/s' }),
  resets: new LiveChart(byId('chart-resets'), rateSeries(RESET_RATES, 4), { yLabel: 'per second', unit: '/s' }),
};

function addPoint(f: DashboardFrame): void {
  const s = f.sockets.byState;
  charts.states.push(
    f.t,
    STATES.map((x) => s[x.label] ?? 0),
  );
  charts.ports.push(f.t, [s.TIME_WAIT ?? 0, f.ephemeral ? f.ephemeral.inUse : null]);
  // The first sample has no rate yet: a gap, not a zero.
  const rates = (list: [string, string][]) => list.map(([key]) => (f.rates ? (f.rates[key] ?? 0) : null));
  charts.listen.push(f.t, rates(LISTEN_RATES));
  charts.resets.push(f.t, rates(RESET_RATES));
  addReasonPoint(f);
  addRttPoint(f);
}

function drawAll(): void {
  for (const c of Object.values(charts)) c.draw();
  drawReasons();
  drawRtt();
}

function showLatest(f: DashboardFrame): void {
  renderStats(f);
  renderListeners(f.listeners);
  renderPorts(f);
  renderReasonTotals(f);
  renderRtt(f);
  document.body.dataset.lastSample = String(f.t);
  byId('sample-ms').textContent = String(f.sampleMs);
  byId('stream-text').textContent = `live · ${fmtTime(f.t)}`;
}

const STATE_TEXT: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  lost: 'stream lost · reconnecting…',
};

let findingsIntervalMs = 10_000;

openStream('./api/events', {
  onState(state) {
    const el = byId('stream');
    el.className = `stream ${state}`;
    el.dataset.state = state;
    byId('stream-text').textContent =
      state === 'lost' ? `stream lost at ${fmtTime(Date.now() / 1000)} · reconnecting…` : STATE_TEXT[state];
    // What is on the page stops being news: say so by greying it.
    document.body.classList.toggle('stale', state === 'lost');
  },
  onHello(hello) {
    byId('host').textContent = `${hello.host} · Linux ${hello.kernel}`;
    byId('version').textContent = hello.version;
    byId('interval').textContent = String(hello.intervalMs / 1000);
    document.title = `tcplens · ${hello.host}`;
    findingsIntervalMs = hello.findingsIntervalMs;
    renderEbpfState(hello.ebpf);
    // After a reconnect the server may be a new one with a short history: keep what we drew.
    for (const f of hello.history) addPoint(f);
    drawAll();
    const last = hello.history.at(-1);
    if (last) showLatest(last);
    renderFindings(hello.findings, findingsIntervalMs);
    byId('problem').hidden = true;
  },
  onSample(frame) {
    addPoint(frame);
    drawAll();
    showLatest(frame);
  },
  onFindings(f) {
    renderFindings(f, findingsIntervalMs);
  },
  onProblem(p) {
    const el = byId('problem');
    el.textContent = `${fmtTime(Date.now() / 1000)}: ${p.message}`;
    el.hidden = false;
  },
});

setUpBenchViewer();
