// Text for `tcplens sockets`: an ss-like listing, group counts, and the summary view.

import type { Group, ListedSocket, SocketReport } from '../analyze/socket-query.ts';
import type { SocketSummary } from '../analyze/socket-summary.ts';
import type { Endpoint } from '../model/socket.ts';
import { type Color, formatCount, formatShare, paint, renderTable } from './table.ts';

export interface RenderOptions {
  color: boolean;
  extended?: boolean;
  processes?: boolean;
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
  const columns = [
    { header: 'State' },
    { header: 'Recv-Q', align: 'right' as const },
    { header: 'Send-Q', align: 'right' as const },
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
    if (opts.processes) row.push(s.pid === undefined ? '-' : `${s.process}/${s.pid}`);
    return row;
  });
  return renderTable(columns, rows);
}

export function renderGroups(by: string, groups: Group[], total: number): string {
  const rows = groups.map((g) => [g.key, formatCount(g.count), formatShare(total === 0 ? 0 : g.count / total)]);
  return renderTable(
    [{ header: by }, { header: 'Count', align: 'right' }, { header: 'Share', align: 'right' }],
    rows,
  );
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
    notes.push(`${report.malformedLines} line(s) of /proc/net/tcp{,6} did not parse and were skipped`);
  }
  if (report.hiddenProcesses) {
    notes.push(
      `the sockets of ${report.hiddenProcesses} process(es) of other users are invisible without root: run as root to see every owner`,
    );
  }
  return notes;
}
