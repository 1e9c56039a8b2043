// The listing of `tcplens sockets` as an ss-like table, each socket's cells formatted as it is read
// from the reader's reused row: the table keeps their bytes only, no object per socket.

import type { ListingSink, SortKey } from '../analyze/socket-query.ts';
import type { SocketOwner } from '../kernel/processes.ts';
import { type TcpRow, addressKey, localAddress, remoteAddress, TIMER_KINDS } from '../kernel/socket-row.ts';
import { INFINITE_SSTHRESH, TI } from '../kernel/tcp-info.ts';
import { stateCode, stateName } from '../model/tcp-state.ts';
import { bracketHost } from '../text/host-port.ts';
import { type ByteColumn, ByteTable, type ByteWriter, type ChunkWriter } from './byte-table.ts';
import { paint } from './table.ts';
import { type RenderOptions, STATE_COLOR } from './sockets.ts';

const LISTEN = stateCode('LISTEN');
const DASH = 45;
const COLON = 58;
const STAR = 42;
const SLASH = 47;
const SI = [75, 77, 71, 84, 80]; // K M G T P
const encoder = new TextEncoder();

/** Where the table was asked to show its sockets: all in the order read, or the worst first. */
export interface SocketTableOptions extends RenderOptions {
  sort?: SortKey;
  top?: number;
}

/** A host as an endpoint shows it, with whether it is the unspecified address of a listener. */
interface HostText {
  bytes: Uint8Array;
  unspecified: boolean;
}

/**
 * Takes each listed socket as it is read (a ListingSink) and formats its cells at once; render lays
 * the table out, each column as wide as its widest cell among the sockets shown.
 */
export class SocketTable implements ListingSink {
  private readonly opts: SocketTableOptions;
  private readonly columns: ByteColumn[];
  private readonly table: ByteTable;
  private states = new Uint8Array(1024);
  /** The sort key of each row, worst highest. */
  private keys: Float64Array | undefined;
  private readonly stateText: Uint8Array[] = [];
  private readonly hosts = new Map<string | number, HostText>();
  /** Listeners whose accept-queue maximum the table lacked: their row, then their inode. */
  private readonly unknownMax: number[] = [];
  private lastLocalKey: string | number = -1;
  private lastLocal: HostText | undefined;
  private lastRemoteKey: string | number = -1;
  private lastRemote: HostText | undefined;
  private congestion = '';
  private congestionBytes = new Uint8Array([DASH]);

  constructor(opts: SocketTableOptions) {
    this.opts = opts;
    const cols: ByteColumn[] = [
      { header: 'State', measured: opts.color },
      // For a listener, ss shows the accept queue and its maximum in the two queue columns; so do we.
      { header: 'Recv-Q', right: true },
      { header: 'Send-Q', right: true },
      { header: 'Local' },
      { header: 'Peer' },
    ];
    if (opts.extended)
      cols.push(
        { header: 'Timer' },
        { header: 'Expires', right: true },
        { header: 'Retrans', right: true },
        { header: 'UID', right: true },
        { header: 'Inode', right: true },
      );
    if (opts.info)
      for (const header of [
        'RTT ms',
        'Var ms',
        'Cwnd',
        'Ssthresh',
        'Retrans',
        'Lost',
        'Acked',
        'Received',
        'Delivery',
        'Busy ms',
        'Rwnd-lim',
        'Sndbuf-lim',
      ])
        cols.push({ header, right: true });
    if (opts.info) cols.push({ header: 'Cong' });
    if (opts.info && opts.memory)
      for (const header of ['Rmem', 'Rcvbuf', 'Wmem', 'Sndbuf', 'Wqueued', 'Drops']) cols.push({ header, right: true });
    if (opts.processes) cols.push({ header: 'Process', measured: true });
    this.columns = cols;
    this.table = new ByteTable(cols);
    if (opts.sort) this.keys = new Float64Array(1024);
  }

  add(row: TcpRow, owner: SocketOwner | undefined): void {
    const { opts, table } = this;
    const r = table.rows;
    // Without a sort, the first `top` sockets are the ones shown.
    if (!opts.sort && opts.top !== undefined && r >= opts.top) return;
    if (r === this.states.length) {
      const bigger = new Uint8Array(r * 2);
      bigger.set(this.states);
      this.states = bigger;
      if (this.keys) {
        const keys = new Float64Array(r * 2);
        keys.set(this.keys);
        this.keys = keys;
      }
    }
    const state = row.state;
    this.states[r] = state;
    const out = table.out;
    table.beginRow();
    out.bytes(
      (this.stateText[state] ??= encoder.encode(paint(stateName(state), STATE_COLOR[stateName(state)], opts.color))),
    );
    table.endCell();
    out.int(row.rxQueue);
    table.endCell();
    if (state !== LISTEN) out.int(row.txQueue);
    else if (row.acceptQueueMax >= 0) out.int(row.acceptQueueMax);
    else {
      out.byte(63); // '?': unknown, unless backlogs() learns it
      this.unknownMax.push(r, row.inode);
    }
    table.endCell();
    this.endpoint(row, row.localAt, row.localPort, true);
    table.endCell();
    this.endpoint(row, row.remoteAt, row.remotePort, false);
    table.endCell();
    if (opts.extended) {
      out.text(TIMER_KINDS[row.timer] ?? 'unknown');
      table.endCell();
      if (row.timer === 0) out.byte(DASH);
      else {
        // Ticks of 10 ms as seconds with two decimals: hundredths of a second.
        out.int(Math.floor(row.timerTicks / 100));
        out.byte(46);
        out.byte(48 + (Math.floor(row.timerTicks / 10) % 10));
        out.byte(48 + (row.timerTicks % 10));
        out.byte(115);
      }
      table.endCell();
      out.int(row.retransmits);
      table.endCell();
      out.int(row.uid);
      table.endCell();
      out.int(row.inode);
      table.endCell();
    }
    const rec = row.hasInfo ? row.info : undefined;
    if (opts.info) {
      const v = rec?.values;
      if (v) {
        writeMs(out, v[TI.rttUs]!);
        table.endCell();
        writeMs(out, v[TI.rttVarUs]!);
        table.endCell();
        writeInt(out, v[TI.sndCwnd]!);
        table.endCell();
        const ssthresh = v[TI.sndSsthresh]!;
        writeInt(out, ssthresh >= INFINITE_SSTHRESH ? NaN : ssthresh);
        table.endCell();
        writeInt(out, v[TI.retransmits]!);
        out.byte(SLASH);
        writeInt(out, v[TI.totalRetrans]!);
        table.endCell();
        writeInt(out, v[TI.lost]!);
        table.endCell();
        writeSi(out, v[TI.bytesAcked]!, false);
        table.endCell();
        writeSi(out, v[TI.bytesReceived]!, false);
        table.endCell();
        writeSi(out, v[TI.deliveryRate]! * 8, true);
        table.endCell();
        const busy = v[TI.busyUs]!;
        writeMs(out, busy);
        table.endCell();
        writeLimited(out, v[TI.rwndLimitedUs]!, busy);
        table.endCell();
        writeLimited(out, v[TI.sndbufLimitedUs]!, busy);
        table.endCell();
        const congestion = rec!.congestion;
        if (congestion !== this.congestion) {
          // The reader hands the same string on while the name does not change.
          this.congestion = congestion;
          this.congestionBytes = encoder.encode(congestion || '-');
        }
        out.bytes(this.congestionBytes);
        table.endCell();
      } else {
        // No tcp_info (a TIME_WAIT socket): a dash in every one of its columns.
        for (let c = 0; c < 13; c++) {
          out.byte(DASH);
          table.endCell();
        }
      }
      if (opts.memory) {
        const m = rec?.hasSkmem ? rec.skmem : undefined;
        for (const k of [0, 1, 2, 3, 5, 8]) {
          if (m) writeSi(out, m[k]!, false);
          else out.byte(DASH);
          table.endCell();
        }
      }
    }
    if (opts.processes) {
      if (owner) {
        out.text(owner.command);
        out.byte(SLASH);
        out.int(owner.pid);
      } else out.byte(DASH);
      table.endCell();
    }
    table.endRow();
    const keys = this.keys;
    if (keys) keys[r] = sortKey(opts.sort!, row, rec?.values);
  }

  backlogs(maxByInode: Map<number, number>): void {
    const u = this.unknownMax;
    for (let k = 0; k < u.length; k += 2) {
      const max = maxByInode.get(u[k + 1]!);
      if (max !== undefined) this.table.replaceCell(u[k]!, 2, encoder.encode(String(max)));
    }
  }

  /**
   * The table, in chunks to `write` as it is laid out when given (what is returned is the rest),
   * else whole.
   */
  render(write?: ChunkWriter): Uint8Array {
    const rows = this.table.rows;
    let order: Uint32Array | undefined;
    const keys = this.keys;
    if (keys) {
      order = new Uint32Array(rows);
      for (let i = 0; i < rows; i++) order[i] = i;
      // Worst first; equal keys keep the order read.
      order.sort((a, b) => keys[b]! - keys[a]! || a - b);
      if (this.opts.top !== undefined && this.opts.top < rows) order = order.subarray(0, this.opts.top);
    }
    const shown = order ? order.length : rows;
    let listeners = shown > 0;
    for (let k = 0; k < shown && listeners; k++) listeners = this.states[order ? order[k]! : k] === LISTEN;
    this.columns[1]!.header = listeners ? 'Accept-Q' : 'Recv-Q';
    this.columns[2]!.header = listeners ? 'Max' : 'Send-Q';
    return this.table.render(order, write);
  }

  // "127.0.0.1:80", "[::1]:80", "*:*" for the unspecified remote of a listener.
  private endpoint(row: TcpRow, at: number, port: number, local: boolean): void {
    const key = addressKey(row, at);
    // Rows in a row mostly share their local address, and often their peer's: no lookup then.
    let host = local
      ? key === this.lastLocalKey
        ? this.lastLocal
        : undefined
      : key === this.lastRemoteKey
        ? this.lastRemote
        : undefined;
    host ??= this.hosts.get(key);
    if (host === undefined) {
      const a = local ? localAddress(row) : remoteAddress(row);
      host = { bytes: encoder.encode(bracketHost(a)), unspecified: a === '0.0.0.0' || a === '::' };
      this.hosts.set(key, host);
    }
    if (local) {
      this.lastLocalKey = key;
      this.lastLocal = host;
    } else {
      this.lastRemoteKey = key;
      this.lastRemote = host;
    }
    const out = this.table.out;
    if (port === 0 && host.unspecified) out.byte(STAR);
    else out.bytes(host.bytes);
    out.byte(COLON);
    if (port === 0) out.byte(STAR);
    else out.int(port);
  }
}

// Worst highest; sockets without the value (no tcp_info: TIME_WAIT, listeners) lowest.
function sortKey(key: SortKey, row: TcpRow, v: Float64Array | undefined): number {
  switch (key) {
    case 'rtt':
      return v ? v[TI.rttUs]! : -1;
    case 'retrans':
      // Total retransmits first, then the retransmits in a row (at most 255: the kernel's u8).
      return (v ? v[TI.totalRetrans]! : -1) * 256 + row.retransmits;
    case 'sendq':
      return row.txQueue;
  }
}

function writeInt(out: ByteWriter, v: number): void {
  if (Number.isNaN(v)) out.byte(DASH);
  else out.int(v);
}

// Milliseconds from whole microseconds: 0.045, 12.3, 250.
function writeMs(out: ByteWriter, us: number): void {
  if (Number.isNaN(us)) out.byte(DASH);
  else if (us >= 100_000) out.int(Math.round(us / 1000));
  else if (us >= 1000) out.tenths(Math.round(us / 100));
  else out.thousandths(Math.round(us));
}

// Large numbers with SI steps of 1000 (1.2M): below 10,000 the number itself, else one decimal
// below 100 of a unit.
function writeSi(out: ByteWriter, n: number, bps: boolean): void {
  if (Number.isNaN(n)) {
    out.byte(DASH);
    return;
  }
  if (n < 10_000) out.int(n);
  else {
    let step = -1;
    let v = n;
    while (v >= 1000 && step < SI.length - 1) {
      v /= 1000;
      step++;
    }
    if (v < 100) out.tenths(Math.round(v * 10));
    else out.int(Math.round(v));
    out.byte(SI[step]!);
  }
  if (bps) out.text('bps');
}

// Time limited, and its share of busy time, as ss prints rwnd_limited:12ms(3.4%).
function writeLimited(out: ByteWriter, us: number, busyUs: number): void {
  writeMs(out, us);
  if (Number.isNaN(us) || !(busyUs > 0)) return;
  out.byte(40);
  out.tenths(Math.round((us / busyUs) * 1000));
  out.byte(37);
  out.byte(41);
}
