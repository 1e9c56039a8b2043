// Text for `tcplens sockets`: an ss-like listing, group counts, and the summary view.

import type { Group, SocketReport } from '../analyze/socket-query.ts';
import { R, type SocketListing } from '../analyze/socket-listing.ts';
import { INFINITE_SSTHRESH, TI } from '../kernel/tcp-info.ts';
import { TIMER_KINDS } from '../kernel/socket-row.ts';
import { type ByteColumn, type ByteWriter, type ChunkWriter, intWidth, renderByteTable } from './byte-table.ts';
import { stateCode } from '../model/tcp-state.ts';
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

const LISTEN = stateCode('LISTEN');

const STATE_COLOR: Record<string, Color> = {
  TIME_WAIT: 'yellow',
  CLOSE_WAIT: 'red',
  SYN_RECV: 'cyan',
  LISTEN: 'green',
  FIN_WAIT2: 'yellow',
};

// ---- cells written as bytes (see byte-table.ts) ----------------------------------------------

const DASH = 45;

function textColumn(header: string, get: (i: number) => string, right = false): ByteColumn {
  return { header, right, width: (i) => get(i).length, write: (out, i) => out.text(get(i)) };
}

/**
 * An endpoint as formatEndpoint writes it, from the address text (one string per distinct address,
 * its host form made once) and the port's digits: no string per socket.
 */
function endpointColumn(header: string, address: (i: number) => string, port: (i: number) => number): ByteColumn {
  const hosts = new Map<string, string>();
  const host = (i: number): string => {
    const a = address(i);
    let h = hosts.get(a);
    if (h === undefined) hosts.set(a, (h = bracketHost(a)));
    return port(i) === 0 && (a === '0.0.0.0' || a === '::') ? '*' : h;
  };
  return {
    header,
    width: (i) => {
      const p = port(i);
      return host(i).length + 1 + (p === 0 ? 1 : intWidth(p));
    },
    write: (out, i) => {
      out.text(host(i));
      out.byte(58);
      const p = port(i);
      if (p === 0) out.byte(42);
      else out.int(p);
    },
  };
}

function intColumn(header: string, get: (i: number) => number): ByteColumn {
  return {
    header,
    right: true,
    width: (i) => {
      const v = get(i);
      return Number.isNaN(v) ? 1 : intWidth(v);
    },
    write: (out, i) => {
      const v = get(i);
      if (Number.isNaN(v)) out.byte(DASH);
      else out.int(v);
    },
  };
}

// Milliseconds from whole microseconds, as msText prints them: 0.045, 12.3, 250.
function msWidth(us: number): number {
  if (Number.isNaN(us)) return 1;
  if (us >= 100_000) return intWidth(Math.round(us / 1000));
  if (us >= 1000) return intWidth(Math.floor(Math.round(us / 100) / 10)) + 2;
  return 5;
}

function writeMs(out: ByteWriter, us: number): void {
  if (Number.isNaN(us)) out.byte(DASH);
  else if (us >= 100_000) out.int(Math.round(us / 1000));
  else if (us >= 1000) out.tenths(Math.round(us / 100));
  else out.thousandths(Math.round(us));
}

function msColumn(header: string, getUs: (i: number) => number): ByteColumn {
  return { header, right: true, width: (i) => msWidth(getUs(i)), write: (out, i) => writeMs(out, getUs(i)) };
}

const SI = [75, 77, 71, 84, 80]; // K M G T P

// Large numbers with SI steps of 1000 (1.2M): below 10,000 the number itself, else one decimal
// below 100 of a unit.
let siStep = 0;
let siValue = 0; // whole units, or tenths when siTenths
let siTenths = false;
function siSplit(n: number): void {
  siStep = -1;
  let v = n;
  if (n < 10_000) {
    siValue = n;
    siTenths = false;
    return;
  }
  while (v >= 1000 && siStep < SI.length - 1) {
    v /= 1000;
    siStep++;
  }
  siTenths = v < 100;
  siValue = siTenths ? Math.round(v * 10) : Math.round(v);
}

function siColumn(header: string, get: (i: number) => number, unit = ''): ByteColumn {
  return {
    header,
    right: true,
    width: (i) => {
      const v = get(i);
      if (Number.isNaN(v)) return 1;
      siSplit(v);
      const digits = siTenths ? intWidth(Math.floor(siValue / 10)) + 2 : intWidth(siValue);
      return digits + (siStep >= 0 ? 1 : 0) + unit.length;
    },
    write: (out, i) => {
      const v = get(i);
      if (Number.isNaN(v)) return out.byte(DASH);
      siSplit(v);
      if (siTenths) out.tenths(siValue);
      else out.int(siValue);
      if (siStep >= 0) out.byte(SI[siStep]!);
      if (unit) out.text(unit);
    },
  };
}

// Time limited, and its share of busy time, as ss prints rwnd_limited:12ms(3.4%).
function limitedColumn(header: string, getUs: (i: number) => number, busyUs: (i: number) => number): ByteColumn {
  const share = (i: number) => Math.round((getUs(i) / busyUs(i)) * 1000);
  return {
    header,
    right: true,
    width: (i) => {
      const us = getUs(i);
      if (Number.isNaN(us) || !(busyUs(i) > 0)) return msWidth(us);
      return msWidth(us) + intWidth(Math.floor(share(i) / 10)) + 5;
    },
    write: (out, i) => {
      const us = getUs(i);
      writeMs(out, us);
      if (Number.isNaN(us) || !(busyUs(i) > 0)) return;
      out.byte(40);
      out.tenths(share(i));
      out.byte(37);
      out.byte(41);
    },
  };
}

/**
 * The listing as an ss-like table, written from the columns straight into bytes (UTF-8): no
 * object and no string per cell, whatever the number of sockets.
 */
/** With `write`, the table goes to it in chunks as it is laid out, and what is returned is the rest. */
export function renderSocketList(
  l: SocketListing,
  order: Uint32Array,
  opts: RenderOptions,
  write?: ChunkWriter,
): Uint8Array {
  const g = (i: number, f: number) => l.get(i, f);
  const listeners = order.length > 0 && order.every((i) => g(i, R.state) === LISTEN);
  const stateText = (i: number) => l.stateName(i);
  const cols: ByteColumn[] = [
    {
      header: 'State',
      width: (i) => stateText(i).length,
      write: (out, i) => out.text(paint(stateText(i), STATE_COLOR[stateText(i)], opts.color)),
    },
    // For a listener, ss shows the accept queue and its maximum in the two queue columns; so do we.
    intColumn(listeners ? 'Accept-Q' : 'Recv-Q', (i) => g(i, R.rxQueue)),
    {
      ...intColumn(listeners ? 'Max' : 'Send-Q', (i) =>
        g(i, R.state) === LISTEN ? g(i, R.acceptQueueMax) : g(i, R.txQueue),
      ),
      // An unknown maximum (-1) shows as '?'.
      ...unknownAsQuestion((i) => (g(i, R.state) === LISTEN ? g(i, R.acceptQueueMax) : g(i, R.txQueue))),
    },
    endpointColumn(
      'Local',
      (i) => l.local[i]!,
      (i) => g(i, R.localPort),
    ),
    endpointColumn(
      'Peer',
      (i) => l.remote[i]!,
      (i) => g(i, R.remotePort),
    ),
  ];
  if (opts.extended) {
    cols.push(
      textColumn('Timer', (i) => TIMER_KINDS[g(i, R.timer)] ?? 'unknown'),
      textColumn(
        'Expires',
        (i) => (g(i, R.timer) === 0 ? '-' : `${((g(i, R.timerTicks) * 10) / 1000).toFixed(2)}s`),
        true,
      ),
      intColumn('Retrans', (i) => g(i, R.retransmits)),
      intColumn('UID', (i) => g(i, R.uid)),
      intColumn('Inode', (i) => g(i, R.inode)),
    );
  }
  if (opts.info && l.withInfo) {
    const v = (f: number) => (i: number) => l.infoValue(i, f);
    const has = (i: number) => l.hasInfo(i);
    cols.push(
      msColumn('RTT ms', v(TI.rttUs)),
      msColumn('Var ms', v(TI.rttVarUs)),
      intColumn('Cwnd', v(TI.sndCwnd)),
      intColumn('Ssthresh', (i) => {
        const x = l.infoValue(i, TI.sndSsthresh);
        return x >= INFINITE_SSTHRESH ? NaN : x;
      }),
      {
        header: 'Retrans',
        right: true,
        width: (i) =>
          has(i) ? intWidth(l.infoValue(i, TI.retransmits)) + 1 + intWidth(l.infoValue(i, TI.totalRetrans)) : 1,
        write: (out, i) => {
          if (!has(i)) return out.byte(DASH);
          out.int(l.infoValue(i, TI.retransmits));
          out.byte(47);
          out.int(l.infoValue(i, TI.totalRetrans));
        },
      },
      intColumn('Lost', v(TI.lost)),
      siColumn('Acked', v(TI.bytesAcked)),
      siColumn('Received', v(TI.bytesReceived)),
      siColumn('Delivery', (i) => l.infoValue(i, TI.deliveryRate) * 8, 'bps'),
      msColumn('Busy ms', v(TI.busyUs)),
      limitedColumn('Rwnd-lim', v(TI.rwndLimitedUs), v(TI.busyUs)),
      limitedColumn('Sndbuf-lim', v(TI.sndbufLimitedUs), v(TI.busyUs)),
      textColumn('Cong', (i) => l.congestion[i] || '-'),
    );
  }
  if (opts.memory && l.withInfo) {
    const m = (k: number) => (i: number) => l.skmemValue(i, k);
    cols.push(
      siColumn('Rmem', m(0)),
      siColumn('Rcvbuf', m(1)),
      siColumn('Wmem', m(2)),
      siColumn('Sndbuf', m(3)),
      siColumn('Wqueued', m(5)),
      siColumn('Drops', m(8)),
    );
  }
  if (opts.processes) cols.push(textColumn('Process', (i) => l.owner[i] ?? '-'));
  return renderByteTable(cols, order, write);
}

function unknownAsQuestion(get: (i: number) => number): Pick<ByteColumn, 'width' | 'write'> {
  return {
    width: (i) => (get(i) < 0 ? 1 : intWidth(get(i))),
    write: (out, i) => (get(i) < 0 ? out.byte(63) : out.int(get(i))),
  };
}

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
