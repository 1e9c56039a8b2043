// The shared shape of one TCP socket as the kernel lists it (/proc/net/tcp{,6} or netlink sock_diag).

import type { TcpState } from './tcp-state.ts';

export type Family = 'ipv4' | 'ipv6';

export interface Endpoint {
  /** Dotted IPv4, or RFC 5952 IPv6; IPv4-mapped IPv6 (::ffff:a.b.c.d) is shown as the IPv4 address. */
  address: string;
  port: number;
}

/** Which kernel timer is pending on the socket (the `tr` column). */
export type TimerKind = 'none' | 'retransmit' | 'keepalive' | 'time-wait' | 'zero-window-probe' | 'unknown';

export interface Socket {
  family: Family;
  state: TcpState;
  local: Endpoint;
  remote: Endpoint;
  /** Bytes queued to send (for LISTEN: 0). */
  txQueue: number;
  /** Bytes received not yet read; for LISTEN, connections waiting in the accept queue. */
  rxQueue: number;
  timer: TimerKind;
  /** Milliseconds until the pending timer fires (kernel clock ticks of 10 ms). */
  timerExpiresMs: number;
  /** Retransmits of the current segment (icsk_retransmits), or request-sock retransmits. */
  retransmits: number;
  uid: number;
  /** Unanswered zero-window or keepalive probes (icsk_probes_out). */
  timeout: number;
  /** Inode of the socket; 0 for TIME_WAIT and request sockets, which have no file. */
  inode: number;
  pid?: number;
  process?: string;
  /** tcp_info, socket memory and congestion control (netlink only, with --info). */
  info?: TcpInfo;
}

/** Socket memory as `ss -m` shows it (skmem), in bytes; drops is a count of packets. */
export interface SocketMemory {
  rmemAlloc: number | null;
  rcvBuf: number | null;
  wmemAlloc: number | null;
  sndBuf: number | null;
  fwdAlloc: number | null;
  wmemQueued: number | null;
  optMem: number | null;
  backlog: number | null;
  drops: number | null;
}

/**
 * A connection's tcp_info as the kernel reports it through inet_diag, in the units the names say.
 * null: this kernel does not report the field (or, for ssthresh, no threshold has been set yet).
 */
export interface TcpInfo {
  rttMs: number | null;
  rttVarMs: number | null;
  minRttMs: number | null;
  rtoMs: number | null;
  /** Congestion window, in segments. */
  cwnd: number | null;
  /** Slow-start threshold, in segments. */
  ssthresh: number | null;
  mss: number | null;
  /** Retransmits of the segment now at the head (tcpi_retransmits). */
  retransmits: number | null;
  /** All segments retransmitted over the connection's life. */
  totalRetrans: number | null;
  /** Segments the kernel deems lost now. */
  lost: number | null;
  unacked: number | null;
  bytesSent: number | null;
  bytesAcked: number | null;
  bytesReceived: number | null;
  bytesRetrans: number | null;
  segsOut: number | null;
  segsIn: number | null;
  /** Bytes written by the application but not yet sent. */
  notsentBytes: number | null;
  /** Bits per second, as ss prints delivery_rate. */
  deliveryRateBps: number | null;
  /** Bits per second; null when unlimited. */
  pacingRateBps: number | null;
  /** Time with data in flight. */
  busyMs: number | null;
  /** Time limited by the receiver's window. */
  rwndLimitedMs: number | null;
  /** Time limited by the send buffer. */
  sndbufLimitedMs: number | null;
  /** Milliseconds since data was last sent, received, and an ACK received. */
  lastSendMs: number | null;
  lastRecvMs: number | null;
  lastAckMs: number | null;
  sndWnd: number | null;
  rcvWnd: number | null;
  rcvSpace: number | null;
  /** The congestion control algorithm (cubic, bbr, …). */
  congestion: string | null;
  /** With --memory. */
  skmem?: SocketMemory;
}
