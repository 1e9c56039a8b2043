// Text for `tcplens sockets`: an ss-like listing, group counts, and the summary view.

import type { Group, ListedSocket, SocketReport } from '../analyze/socket-query.ts';
import type { SocketSummary } from '../analyze/socket-summary.ts';
import type { Endpoint, SocketMemory } from '../model/socket.ts';
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

const STATE_COLOR: Record<string, Color> = {
  TIME_WAIT: 'yellow',
  CLOSE_WAIT: 'red',
  SYN_RECV: 'cyan',
  LISTEN: 'green',
  FIN_WAIT2: 'yellow',
};

export function renderSocketList(sockets: ListedSocket[], opts: RenderOptions): string {
  // A list of listeners only names what ss's two queue columns hold for them.
  const listeners = sockets.length > 0 && sockets.every((s) => s.state === 'LISTEN');
  const columns: Column[] = [
    { header: 'State' },
    { header: listeners ? 'Accept-Q' : 'Recv-Q', align: 'right' },
    { header: listeners ? 'Max' : 'Send-Q', align: 'right' },
    { header: 'Local' },
    { header: 'Peer' },
  ];
  if (opts.extended) {
    columns.push(
      { header: 'Timer' },
      { header: 'Expires', align: 'right' },
      { header: 'Retrans', align: 'right' },
      { header: 'UID', align: 'right' },
      { header: 'Inode', align: 'right' },
    );
  }
  if (opts.info) for (const c of INFO_COLUMNS) columns.push(c === 'Cong' ? { header: c } : { header: c, align: 'right' });
  if (opts.memory) for (const c of MEMORY_COLUMNS) columns.push({ header: c, align: 'right' });
  if (opts.processes) columns.push({ header: 'Process' });
  const rows = sockets.map((s) => {
    // For a listener, ss shows the accept queue and its maximum in these two columns; so do we.
    const sendQ = s.state === 'LISTEN' ? (s.acceptQueueMax == null ? '?' : String(s.acceptQueueMax)) : String(s.txQueue);
    const row = [
      paint(s.state, STATE_COLOR[s.state], opts.color),
      String(s.rxQueue),
      sendQ,
      formatEndpoint(s.local),
      formatEndpoint(s.remote),
    ];
    if (opts.extended) {
      row.push(
        s.timer,
        s.timer === 'none' ? '-' : `${(s.timerExpiresMs / 1000).toFixed(2)}s`,
        String(s.retransmits),
        String(s.uid),
        String(s.inode),
      );
    }
    if (opts.info) row.push(...infoCells(s.info));
    if (opts.memory) row.push(...memoryCells(s.info?.skmem));
    if (opts.processes) row.push(s.pid === undefined ? '-' : `${s.process}/${s.pid}`);
    return row;
  });
  return renderTable(columns, rows);
}

const INFO_COLUMNS = ['RTT ms', 'Var ms', 'Cwnd', 'Ssthresh', 'Retrans', 'Lost', 'Acked', 'Received', 'Delivery', 'Busy ms', 'Rwnd-lim', 'Sndbuf-lim', 'Cong'];
const MEMORY_COLUMNS = ['Rmem', 'Rcvbuf', 'Wmem', 'Sndbuf', 'Wqueued', 'Drops'];

const dash = (v: number | null | undefined, f: (n: number) => string = String) => (v == null ? '-' : f(v));
const msText = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3));
// A share of busy time, as ss prints rwnd_limited:12ms(3.4%).
const limited = (v: number | null, busy: number | null) =>
  v == null ? '-' : busy ? `${msText(v)}(${formatShare(v / busy)})` : msText(v);

/** 1234567 → "1.2M", with B, K, M, G, T steps of 1000 (rates) or raw below 10,000. */
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

function infoCells(info: ListedSocket['info']): string[] {
  if (!info) return INFO_COLUMNS.map(() => '-');
  return [
    dash(info.rttMs, msText),
    dash(info.rttVarMs, msText),
    dash(info.cwnd),
    dash(info.ssthresh),
    `${dash(info.retransmits)}/${dash(info.totalRetrans)}`,
    dash(info.lost),
    dash(info.bytesAcked, (n) => formatSi(n)),
    dash(info.bytesReceived, (n) => formatSi(n)),
    dash(info.deliveryRateBps, (n) => formatSi(n, 'bps')),
    dash(info.busyMs, msText),
    limited(info.rwndLimitedMs, info.busyMs),
    limited(info.sndbufLimitedMs, info.busyMs),
    info.congestion ?? '-',
  ];
}

function memoryCells(m: SocketMemory | undefined): string[] {
  if (!m) return MEMORY_COLUMNS.map(() => '-');
  return [m.rmemAlloc, m.rcvBuf, m.wmemAlloc, m.sndBuf, m.wmemQueued, m.drops].map((v) => dash(v, (n) => formatSi(n)));
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
