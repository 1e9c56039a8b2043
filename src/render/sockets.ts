// Text for `tcplens sockets`: an ss-like listing, group counts, and the summary view.

import type { Group, SocketReport } from '../analyze/socket-query.ts';
import { R, type SocketListing } from '../analyze/socket-listing.ts';
import { TI } from '../kernel/tcp-info.ts';
import { stateCode } from '../model/tcp-state.ts';
import type { SocketSummary } from '../analyze/socket-summary.ts';
import type { Endpoint } from '../model/socket.ts';
import { type Color, type Column, formatCount, formatShare, paint, renderTable } from './table.ts';

export interface RenderOptions {
  color: boolean;
  extended?: boolean;
  processes?: boolean;
  /** tcp_info columns (RTT, cwnd, retransmits, …). */
  info?: boolean;
  /** Socket memory columns. */
  memory?: boolean;
}

/** "127.0.0.1:80", "[::1]:80", "*:*" for the unspecified remote of a listener. */
export function formatEndpoint(e: Endpoint): string {
  const host = e.address.includes(':') ? `[${e.address}]` : e.address;
  const unspecified = e.address === '0.0.0.0' || e.address === '::';
  return `${unspecified ? (e.port === 0 ? '*' : host) : host}:${e.port === 0 ? '*' : e.port}`;
}

const LISTEN = stateCode('LISTEN');

const STATE_COLOR: Record<string, Color> = {
  TIME_WAIT: 'yellow',
  CLOSE_WAIT: 'red',
  SYN_RECV: 'cyan',
  LISTEN: 'green',
  FIN_WAIT2: 'yellow',
};

const TIMERS = ['none', 'retransmit', 'keepalive', 'time-wait', 'zero-window-probe'];
const INFINITE_SSTHRESH = 0x7fffffff;

/** "127.0.0.1:80" from an address string and port, as formatEndpoint. */
function endpointText(address: string, port: number): string {
  return formatEndpoint({ address, port });
}

interface CellColumn extends Column {
  cell(i: number): string;
}

/**
 * The listing as an ss-like table, built from the columns without an object per socket: cells
 * are made once, widths measured as they are made, lines padded at the end.
 */
export function renderSocketList(l: SocketListing, order: Uint32Array, opts: RenderOptions): string {
  const g = (i: number, f: number) => l.get(i, f);
  const listeners = order.length > 0 && order.every((i) => g(i, R.state) === LISTEN);
  const cols: CellColumn[] = [
    { header: 'State', cell: (i) => paint(l.stateName(i), STATE_COLOR[l.stateName(i)], opts.color) },
    // For a listener, ss shows the accept queue and its maximum in the two queue columns; so do we.
    { header: listeners ? 'Accept-Q' : 'Recv-Q', align: 'right', cell: (i) => String(g(i, R.rxQueue)) },
    {
      header: listeners ? 'Max' : 'Send-Q',
      align: 'right',
      cell: (i) => (g(i, R.state) === LISTEN ? (g(i, R.acceptQueueMax) < 0 ? '?' : String(g(i, R.acceptQueueMax))) : String(g(i, R.txQueue))),
    },
    { header: 'Local', cell: (i) => endpointText(l.local[i]!, g(i, R.localPort)) },
    { header: 'Peer', cell: (i) => endpointText(l.remote[i]!, g(i, R.remotePort)) },
  ];
  if (opts.extended) {
    cols.push(
      { header: 'Timer', cell: (i) => TIMERS[g(i, R.timer)] ?? 'unknown' },
      { header: 'Expires', align: 'right', cell: (i) => (g(i, R.timer) === 0 ? '-' : `${((g(i, R.timerTicks) * 10) / 1000).toFixed(2)}s`) },
      { header: 'Retrans', align: 'right', cell: (i) => String(g(i, R.retransmits)) },
      { header: 'UID', align: 'right', cell: (i) => String(g(i, R.uid)) },
      { header: 'Inode', align: 'right', cell: (i) => String(g(i, R.inode)) },
    );
  }
  if (opts.info && l.withInfo) {
    const v = (i: number, f: number) => l.infoValue(i, f);
    const num = (f: number, text: (v: number) => string = String) => (i: number) => {
      const x = v(i, f);
      return Number.isNaN(x) ? '-' : text(x);
    };
    const usMs = (x: number) => msText(x / 1000);
    const limitedBy = (f: number) => (i: number) => {
      const x = v(i, f);
      const busy = v(i, TI.busyUs);
      return Number.isNaN(x) ? '-' : busy > 0 ? `${usMs(x)}(${formatShare(x / busy)})` : usMs(x);
    };
    cols.push(
      { header: 'RTT ms', align: 'right', cell: num(TI.rttUs, usMs) },
      { header: 'Var ms', align: 'right', cell: num(TI.rttVarUs, usMs) },
      { header: 'Cwnd', align: 'right', cell: num(TI.sndCwnd) },
      { header: 'Ssthresh', align: 'right', cell: num(TI.sndSsthresh, (x) => (x >= INFINITE_SSTHRESH ? '-' : String(x))) },
      { header: 'Retrans', align: 'right', cell: (i) => (l.hasInfo[i] ? `${v(i, TI.retransmits)}/${v(i, TI.totalRetrans)}` : '-') },
      { header: 'Lost', align: 'right', cell: num(TI.lost) },
      { header: 'Acked', align: 'right', cell: num(TI.bytesAcked, (x) => formatSi(x)) },
      { header: 'Received', align: 'right', cell: num(TI.bytesReceived, (x) => formatSi(x)) },
      { header: 'Delivery', align: 'right', cell: num(TI.deliveryRate, (x) => formatSi(x * 8, 'bps')) },
      { header: 'Busy ms', align: 'right', cell: num(TI.busyUs, usMs) },
      { header: 'Rwnd-lim', align: 'right', cell: limitedBy(TI.rwndLimitedUs) },
      { header: 'Sndbuf-lim', align: 'right', cell: limitedBy(TI.sndbufLimitedUs) },
      { header: 'Cong', cell: (i) => l.congestion[i] || '-' },
    );
  }
  if (opts.memory && l.withInfo) {
    const mem = (k: number) => (i: number) => {
      const x = l.skmemValue(i, k);
      return Number.isNaN(x) ? '-' : formatSi(x);
    };
    cols.push(
      { header: 'Rmem', align: 'right', cell: mem(0) },
      { header: 'Rcvbuf', align: 'right', cell: mem(1) },
      { header: 'Wmem', align: 'right', cell: mem(2) },
      { header: 'Sndbuf', align: 'right', cell: mem(3) },
      { header: 'Wqueued', align: 'right', cell: mem(5) },
      { header: 'Drops', align: 'right', cell: mem(8) },
    );
  }
  if (opts.processes) cols.push({ header: 'Process', cell: (i) => l.owner[i] ?? '-' });

  const ncol = cols.length;
  const cells: string[] = new Array(order.length * ncol);
  const widths = cols.map((c) => c.header.length);
  // Colour codes take no room on screen: only the state column can carry them.
  const stateExtra = opts.color ? paint('', 'red', true).length : 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    for (let c = 0; c < ncol; c++) {
      const text = cols[c]!.cell(i);
      cells[k * ncol + c] = text;
      const w = c === 0 && opts.color && text.charCodeAt(0) === 27 ? text.length - stateExtra : text.length;
      if (w > widths[c]!) widths[c] = w;
    }
  }
  const lines: string[] = new Array(order.length + 1);
  const line = (get: (c: number) => string, colored: boolean) => {
    let out = '';
    for (let c = 0; c < ncol; c++) {
      const text = get(c);
      const w = c === 0 && colored && text.charCodeAt(0) === 27 ? text.length - stateExtra : text.length;
      const pad = widths[c]! - w;
      if (c > 0) out += '  ';
      if (cols[c]!.align === 'right') out += pad > 0 ? ' '.repeat(pad) + text : text;
      else out += c === ncol - 1 || pad <= 0 ? text : text + ' '.repeat(pad);
    }
    return out.trimEnd();
  };
  lines[0] = line((c) => cols[c]!.header, false);
  for (let k = 0; k < order.length; k++) lines[k + 1] = line((c) => cells[k * ncol + c]!, opts.color);
  return lines.join('\n') + '\n';
}

const msText = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3));
const dash = (v: number | null | undefined, f: (n: number) => string = String) => (v == null ? '-' : f(v));

/** 1234567 → "1.2M", with K, M, G, T steps of 1000, or the number itself below 10,000. */
export function formatSi(n: number, unit = ''): string {
  if (n < 10_000) return `${n}${unit}`;
  const steps = ['K', 'M', 'G', 'T', 'P'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)}${steps[i]}${unit}`;
}

export function renderGroups(by: string, groups: Group[], total: number): string {
  const withInfo = groups.some((g) => g.totalRetrans !== undefined);
  const rows = groups.map((g) => {
    const row = [g.key, formatCount(g.count), formatShare(total === 0 ? 0 : g.count / total)];
    if (withInfo) row.push(dash(g.rttMedianMs, msText), dash(g.rttP99Ms, msText), formatCount(g.totalRetrans ?? 0));
    return row;
  });
  const columns: Column[] = [{ header: by }, { header: 'Count', align: 'right' }, { header: 'Share', align: 'right' }];
  if (withInfo) columns.push({ header: 'RTT p50 ms', align: 'right' }, { header: 'RTT p99 ms', align: 'right' }, { header: 'Retrans', align: 'right' });
  return renderTable(columns, rows);
}

export function renderSummary(s: SocketSummary, opts: RenderOptions): string {
  const parts: string[] = [];
  parts.push(
    `TCP sockets: ${formatCount(s.total)} (IPv4 ${formatCount(s.families.ipv4)}, IPv6 ${formatCount(s.families.ipv6)})\n\n`,
  );
  const states = Object.entries(s.byState)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  parts.push(
    renderTable(
      [{ header: 'State' }, { header: 'Count', align: 'right' }, { header: 'Share', align: 'right' }],
      states.map(([name, n]) => [
        paint(name, STATE_COLOR[name], opts.color),
        formatCount(n),
        formatShare(s.total === 0 ? 0 : n / s.total),
      ]),
    ),
  );

  parts.push(`\nListening sockets: ${s.listeners.length}\n`);
  if (s.listeners.length > 0) {
    const rows = s.listeners.map((l) => {
      const fill = l.fill === null ? 'unknown' : formatShare(l.fill);
      const fillColor: Color | undefined = l.fill === null ? undefined : l.fill >= 0.9 ? 'red' : l.fill >= 0.5 ? 'yellow' : undefined;
      const row = [
        formatEndpoint(l.local),
        formatCount(l.queue),
        l.maxQueue === null ? 'unknown' : formatCount(l.maxQueue),
        paint(fill, fillColor, opts.color),
      ];
      if (opts.processes) row.push(l.pid === undefined ? '-' : `${l.process}/${l.pid}`);
      return row;
    });
    const cols = [
      { header: 'Local' },
      { header: 'Accept queue', align: 'right' as const },
      { header: 'Max', align: 'right' as const },
      { header: 'Fill', align: 'right' as const },
    ];
    if (opts.processes) cols.push({ header: 'Process' });
    parts.push(renderTable(cols, rows));
  }

  const e = s.ephemeral;
  if (e) {
    const reserved = e.reservedInRange > 0 ? ` minus ${formatCount(e.reservedInRange)} reserved` : '';
    parts.push(
      `\nEphemeral ports: ${formatCount(e.portsInUse)} of ${formatCount(e.usable)} in use ` +
        `(ip_local_port_range ${e.range.low}-${e.range.high}${reserved})\n`,
    );
    if (e.destinations.length > 0) {
      parts.push(
        renderTable(
          [
            { header: 'Destination' },
            { header: 'Ports', align: 'right' },
            { header: 'TIME_WAIT', align: 'right' },
            { header: 'Of range', align: 'right' },
          ],
          e.destinations.map((d) => [
            formatEndpoint(d.remote),
            formatCount(d.ports),
            formatCount(d.timeWait),
            paint(formatShare(d.share), d.share >= 0.8 ? 'red' : d.share >= 0.5 ? 'yellow' : undefined, opts.color),
          ]),
        ),
      );
    }
  }
  return parts.join('');
}

/** Lines for stderr about what the report could not see. */
export function reportNotes(report: SocketReport): string[] {
  const notes: string[] = [];
  if (report.malformedLines > 0) {
    const what = report.source === 'proc' ? 'line(s) of /proc/net/tcp{,6}' : 'netlink message(s)';
    notes.push(`${report.malformedLines} ${what} did not parse and were skipped`);
  }
  if (report.hiddenProcesses) {
    notes.push(
      `the sockets of ${report.hiddenProcesses} process(es) of other users are invisible without root: run as root to see every owner`,
    );
  }
  return notes;
}
