// Per-peer RTT and retransmits of ESTABLISHED connections from tcp_info, read during a host scan:
// the query behind `tcplens sockets -i --by peer` fed the scan's rows, the top N peers by
// connections and the rest as one, with the RTT distribution of every connection.

import type { TcpRow } from '../kernel/socket-row.ts';
import type { TableScan } from '../kernel/socket-table.ts';
import { type Group, type RttSpread, SocketQueryPass } from '../analyze/socket-query.ts';

export interface PeerRtt {
  /** Epoch ms when the table was read. */
  takenAt: number;
  /** The top N remote addresses by ESTABLISHED connections, most first, with RTT p50/p99 and retransmits. */
  peers: Group[];
  /** Every other peer's connections as one group, key "other"; absent when every peer is listed. */
  rest?: Group;
  /** RTTs of every ESTABLISHED connection. */
  rtt: RttSpread;
}

/** One reading: visit every row of a scan that asked for tcp_info, then result() with that scan. */
export class PeerRttReading {
  readonly visit: (row: TcpRow) => void;
  private readonly pass: SocketQueryPass;
  private readonly takenAt: number;

  constructor(topN: number, takenAt = Date.now()) {
    this.takenAt = takenAt;
    this.pass = new SocketQueryPass({
      by: 'peer',
      info: true,
      spread: true,
      top: topN,
      filter: { states: ['ESTABLISHED'] },
    });
    this.visit = this.pass.visit;
  }

  result(scan: TableScan): PeerRtt {
    const r = this.pass.report(scan);
    return { takenAt: this.takenAt, peers: r.groups ?? [], ...(r.rest ? { rest: r.rest } : {}), rtt: r.rtt! };
  }
}
