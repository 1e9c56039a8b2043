// Text for `tcplens sockets`: group counts and the summary view (the listing: socket-table.ts).

import type { Group, SocketReport } from '../analyze/socket-query.ts';
import type { SocketSummary } from '../analyze/socket-summary.ts';
import type { Endpoint } from '../model/socket.ts';
import { formatCount, formatShare } from '../text/number.ts';
import { type Color, type Column, paint, renderTable } from './table.ts';
import { bracketHost } from '../text/host-port.ts';

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
  const host = bracketHost(e.address);
  const unspecified = e.address === '0.0.0.0' || e.address === '::';
  return `${unspecified ? (e.port === 0 ? '*' : host) : host}:${e.port === 0 ? '*' : e.port}`;
}

export const STATE_COLOR: Record<string, Color> = {
  TIME_WAIT: 'yellow',
  CLOSE_WAIT: 'red',
  SYN_RECV: 'cyan',
  LISTEN: 'green',
  FIN_WAIT2: 'yellow',
};

const msText = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3));
const dash = (v: number | null | undefined, f: (n: number) => string = String) => (v == null ? '-' : f(v));

export function renderGroups(by: string, groups: Group[], total: number): string {
  const withInfo = groups.some((g) => g.totalRetrans !== undefined);
  const rows = groups.map((g) => {
    const row = [g.key, formatCount(g.count), formatShare(total === 0 ? 0 : g.count / total)];
    if (withInfo) row.push(dash(g.rttMedianMs, msText), dash(g.rttP99Ms, msText), formatCount(g.totalRetrans ?? 0));
    return row;
  });
  const columns: Column[] = [{ header: by }, { header: 'Count', align: 'right' }, { header: 'Share', align: 'right' }];
  if (withInfo)
    columns.push(
      { header: 'RTT p50 ms', align: 'right' },
      { header: 'RTT p99 ms', align: 'right' },
      { header: 'Retrans', align: 'right' },
    );
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
      const fillColor: Color | undefined =
        l.fill === null ? undefined : l.fill >= 0.9 ? 'red' : l.fill >= 0.5 ? 'yellow' : undefined;
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
