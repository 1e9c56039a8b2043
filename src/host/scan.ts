// One pass over the host's TCP sockets for every command that reads the host: the kernel's table
// through the kernel reader (netlink, else /proc), with listening ports marked as they pass so that
// each TIME_WAIT is given its side (time-wait-side.ts) during the same pass.

import { type TableScan, type TableScanRequest, scanSocketTable } from '../kernel/socket-table.ts';
import type { TcpRow } from '../kernel/socket-row.ts';
import { stateCode } from '../model/tcp-state.ts';
import { isServerTimeWait } from './time-wait-side.ts';

export const SIDE_NONE = 0;
/** A TIME_WAIT on a listening port: the server closed first. */
export const SIDE_SERVER = 1;
/** A TIME_WAIT on any other port: this host connected out and closed first. */
export const SIDE_CLIENT = 2;
export type TimeWaitSide = typeof SIDE_NONE | typeof SIDE_SERVER | typeof SIDE_CLIENT;

export interface HostScan extends TableScan {
  /** listening[port] === 1 for every port a listener of the scan had (after the whole pass). */
  listening: Uint8Array;
}

const LISTEN = stateCode('LISTEN');
const TIME_WAIT = stateCode('TIME_WAIT');

/**
 * Visit every socket (the request's families, states and extensions) with, for a TIME_WAIT, its
 * side; SIDE_NONE for every other state. The row is reused: copy what you keep.
 * `listening` may be passed to be reused across scans (it is cleared first).
 */
export function scanHostSockets(
  req: TableScanRequest,
  visit: (row: TcpRow, side: TimeWaitSide) => void,
  listening = new Uint8Array(65536),
): HostScan {
  listening.fill(0);
  // A state filter without LISTEN would leave every TIME_WAIT the client's: listeners are asked
  // for too, and not shown to the visitor.
  const states = req.states?.length && !req.states.includes('LISTEN') ? [...req.states, 'LISTEN' as const] : req.states;
  const hideListeners = states !== req.states;
  const scan = scanSocketTable({ ...req, states }, (row) => {
    const state = row.state;
    if (state === LISTEN) {
      listening[row.localPort] = 1;
      if (!hideListeners) visit(row, SIDE_NONE);
    } else if (state === TIME_WAIT) visit(row, isServerTimeWait(row.localPort, listening) ? SIDE_SERVER : SIDE_CLIENT);
    else visit(row, SIDE_NONE);
  });
  return { ...scan, listening };
}
