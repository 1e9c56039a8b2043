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
  /** With --trace: the drops and resets the kernel's tracepoints reported in the window, with their reasons. */
  trace?: TraceEvidence;
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

