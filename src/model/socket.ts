// The shared shape of one TCP socket as the kernel lists it in /proc/net/tcp{,6}.

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
}
