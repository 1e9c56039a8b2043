// Connections held back by a limit for most of the time they had data to send: the receiver's
// window (it reads too slowly, or its buffer is small) or this socket's send buffer.

import type { Finding } from '../../model/finding.ts';
import type { DoctorSnapshot, LimitedConnection } from './snapshot.ts';

/**
 * A limit that held a connection back for half its busy time or more decides its speed: below
 * that, congestion control and the application still had most of the say.
 */
export const LIMITED_SHARE_WARNING = 0.5;
/**
 * Busy for less than a quarter of the window, a connection carried too little for its limits to
 * matter (and the kernel counts these times in whole jiffies).
 */
export const LIMITED_MIN_BUSY_SHARE = 0.25;

const share = (ms: number, c: LimitedConnection) => ms / Math.max(1, c.busyMs);
const pct = (x: number) => `${Math.round(x * 100)}%`;
const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

export function sendLimits(s: DoctorSnapshot): Finding[] {
  const c = s.connections;
  if (!c) return [];
  const busyEnough = c.limited.filter((l) => l.busyMs >= c.windowS * 1000 * LIMITED_MIN_BUSY_SHARE);
  const out: Finding[] = [];
  const rwnd = busyEnough
    .filter((l) => share(l.rwndLimitedMs, l) >= LIMITED_SHARE_WARNING)
    .sort((a, b) => share(b.rwndLimitedMs, b) - share(a.rwndLimitedMs, a));
  if (rwnd.length > 0) {
    const peers = [...new Set(rwnd.map((l) => l.peer))];
    out.push({
      id: 'receive-window-limited',
      severity: 'warning',
      title: `${rwnd.length} connection${rwnd.length === 1 ? ' was' : 's were'} held back by the receiver's window for most of their busy time (${peers.slice(0, 3).join(', ')}${peers.length > 3 ? ', …' : ''})`,
      evidence: rwnd
        .slice(0, 5)
        .map(
          (l) =>
            `${l.connection}: limited by the receiver's window ${l.rwndLimitedMs} of ${l.busyMs} ms busy (${pct(share(l.rwndLimitedMs, l))}) in ${c.windowS} s${l.peerWindowBytes !== undefined ? `, its window now ${kib(l.peerWindowBytes)}` : ''} (tcp_info rwnd_limited, busy_time)`,
        ),
      mechanism:
        'The receiver advertises how much more it can take; when that window is full, the sender waits whatever the network could carry. The receiving application reads more slowly than data arrives, or its receive buffer is small (a fixed SO_RCVBUF turns off autotuning; tcp_rmem caps it).',
      fix: [
        'on the receiver: does the application keep reading? Its Recv-Q grows: ss -tm (rb is the receive buffer)',
        'do not set SO_RCVBUF on the receiver; raise the cap if the path is long and fast: sysctl -w net.ipv4.tcp_rmem="4096 131072 16777216"',
      ],
    });
  }
  const sndbuf = busyEnough
    .filter((l) => share(l.sndbufLimitedMs, l) >= LIMITED_SHARE_WARNING)
    .sort((a, b) => share(b.sndbufLimitedMs, b) - share(a.sndbufLimitedMs, a));
  if (sndbuf.length > 0) {
    out.push({
      id: 'send-buffer-limited',
      severity: 'warning',
      title: `${sndbuf.length} connection${sndbuf.length === 1 ? ' was' : 's were'} held back by their own send buffer for most of their busy time`,
      evidence: sndbuf
        .slice(0, 5)
        .map(
          (l) =>
            `${l.connection}: limited by the send buffer ${l.sndbufLimitedMs} of ${l.busyMs} ms busy (${pct(share(l.sndbufLimitedMs, l))}) in ${c.windowS} s${l.sndBufBytes !== undefined ? `, send buffer ${kib(l.sndBufBytes)}` : ''} (tcp_info sndbuf_limited, busy_time; skmem tb)`,
        ),
      mechanism:
        'Everything the application had written was sent and the buffer was full of data waiting for acknowledgement, so the application could not hand over more: the buffer is smaller than what the path holds in flight (bandwidth times round trip). A fixed SO_SNDBUF turns off autotuning; tcp_wmem caps it.',
      fix: [
        'do not set SO_SNDBUF (in Node: no writableHighWaterMark tricks on the socket; check native addons and proxies)',
        'raise the cap for long fast paths: sysctl -w net.ipv4.tcp_wmem="4096 16384 16777216"',
      ],
    });
  }
  return out;
}
