// What doctor's rules read: one picture of the host's TCP state over a short window. Rules are pure
// functions of it, so each is tested on synthetic snapshots.

import type { Finding } from '../../model/finding.ts';
import type { Listener, EphemeralUse } from '../socket-summary.ts';

export interface PortCount {
  port: number;
  count: number;
  /** Owner of the listening socket on that port, when known. */
  process?: string;
  pid?: number;
}

export interface DoctorSnapshot {
  host: string;
  kernel: string;
  durationS: number;
  root: boolean;
  /** Counter changes over the window, keyed "Section.Field" (TcpExt.ListenOverflows). */
  deltas: Record<string, number>;
  /** Counter values at the end, same keys. */
  counters: Record<string, number>;
  /** sysctl values as the kernel prints them (normalised spaces); undefined when absent. */
  sysctls: Record<string, string | undefined>;
  sockets: {
    total: number;
    byState: Record<string, number>;
    listeners: Listener[];
    /** TIME_WAIT whose local port is a listening port: the server side closed first (top ports). */
    timeWaitServerSide: PortCount[];
    /** TIME_WAIT towards a remote port: this host connected out and closed first (top ports). */
    timeWaitClientSide: PortCount[];
    /** All of each kind, not only the top ports. */
    timeWaitServerTotal: number;
    timeWaitClientTotal: number;
    closeWait: PortCount[];
    finWait2: number;
    ephemeral?: EphemeralUse;
  };
  /** Processes holding the most sockets, with their descriptor use and soft limit. */
  processes: { pid: number; command: string; fds: number; sockets: number; softLimit?: number }[];
  /** What a run as root would have seen that this one could not. */
  rootWouldAdd: string[];
  /**
   * What tcp_info says about the connections over the window (netlink only; absent on /proc):
   * each connection's counters at the end less those at the start (all of them for a connection
   * opened in the window).
   */
  connections?: ConnectionEvidence;
  /** With --trace: the drops and resets the kernel's tracepoints reported in the window, with their reasons. */
  trace?: TraceEvidence;
}

/** Retransmissions towards one remote address over the window. */
export interface PeerRetransmits {
  peer: string;
  /** Connections towards it with tcp_info at the end of the window. */
  connections: number;
  /** Segments sent (tcpi_segs_out) and retransmitted (tcpi_total_retrans) in the window. */
  segsOut: number;
  retransSegs: number;
  /** The connection that retransmitted most, as "local -> remote", with its own figures. */
  worst?: { connection: string; segsOut: number; retransSegs: number };
}

/** A connection's time with data to send in the window, and how much of it a limit held it back. */
export interface LimitedConnection {
  /** "local -> remote". */
  connection: string;
  peer: string;
  busyMs: number;
  /** tcpi_rwnd_limited: the receiver's advertised window was full. */
  rwndLimitedMs: number;
  /** tcpi_sndbuf_limited: the socket's send buffer was full. */
  sndbufLimitedMs: number;
  /** The send buffer (skmem sndbuf) in bytes, when read. */
  sndBufBytes?: number;
  /** The receiver's advertised window at the end (tcpi_snd_wnd), bytes, when the kernel says. */
  peerWindowBytes?: number;
}

/** A connection whose send queue held data at the start and the end of the window, with nothing acknowledged between. */
export interface StuckSendQueue {
  connection: string;
  peer: string;
  /** Send-Q (unacknowledged plus unsent bytes) at the start and at the end. */
  sendQueueStartBytes: number;
  sendQueueEndBytes: number;
  /** The timer the kernel runs on it: 'zero-window-probe' (the peer's window is closed) or 'retransmit' (no answer at all). */
  timer: string;
}

export interface ConnectionEvidence {
  /** Seconds between the two readings. */
  windowS: number;
  /** Connections with tcp_info at the end of the window. */
  connections: number;
  /** Every peer's figures (the busiest by segments sent first), at most a few hundred. */
  peers: PeerRetransmits[];
  /** All connections together, the peers beyond the list included. */
  segsOut: number;
  retransSegs: number;
  /** Connections busy for at least a tenth of the window and held back by a limit part of it, most limited first. */
  limited: LimitedConnection[];
  stuckSendQueues: StuckSendQueue[];
}

/** Drops or resets of one reason at one local end and owner, as traced. */
export interface ReasonCount {
  /** The kernel's name of the reason (enum skb_drop_reason, or sk_rst_reason for resets). */
  reason: string;
  /** The local end: for a packet that found no socket, the address and port it was sent to. */
  address: string;
  port: number;
  pid?: number;
  process?: string;
  /** The kernel function that dropped the packet (drops only): cookie_v4_check, tcp_v4_rcv… */
  where?: string;
  count: number;
}

export interface TraceEvidence {
  durationS: number;
  drops: ReasonCount[];
  resetsSent: ReasonCount[];
  /** Events lost or skipped by the tracing itself: counts below may be short by this many. */
  lostEvents: number;
}

export type Rule = (s: DoctorSnapshot) => Finding[];

export function sysctlNumber(s: DoctorSnapshot, name: string): number | undefined {
  const v = s.sysctls[name];
  if (v === undefined) return undefined;
  const n = Number(v.split(' ')[0]);
  return Number.isFinite(n) ? n : undefined;
}
