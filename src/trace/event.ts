// What `tcplens trace` reports: one typed event per state change, reset or retransmit, and the options that select them.

import type { Family } from '../model/socket.ts';
import type { TcpState } from '../model/tcp-state.ts';

export type TraceEventType =
  | 'state'
  | 'reset-sent'
  | 'reset-received'
  | 'retransmit'
  | 'synack-retransmit'
  | 'drop'
  | 'life';

/** The groups of events a user selects with --events. */
export const TRACE_EVENT_KINDS = ['state', 'reset', 'retrans', 'synack', 'drop', 'life'] as const;
export type TraceEventKind = (typeof TRACE_EVENT_KINDS)[number];

/** What a trace shows when --events is not given: drops and lifetimes are asked for by name. */
export const DEFAULT_TRACE_EVENTS: readonly TraceEventKind[] = ['state', 'reset', 'retrans', 'synack'];

export interface TraceEvent {
  /** Wall-clock time of the event, ms since the epoch (fractional). */
  timeMs: number;
  type: TraceEventType;
  /**
   * The process that owns the socket, as last seen in one of its own system calls (connect, listen,
   * close), or the listener's owner for an accepted socket; null when not known. Never the task that
   * happened to run the kernel code (often a softirq on behalf of another process).
   */
  pid: number | null;
  comm: string | null;
  family: Family;
  /** Local end (for reset-sent: the end that sends the RST). */
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  /**
   * state: the state left; resets, retransmits and drops: the socket's state at that moment when
   * known; life: the state the connection closed from.
   */
  oldState: TcpState | null;
  /** state: the state entered; null for other events. */
  newState: TcpState | null;
  /** Milliseconds spent in oldState, when its start was seen; life: the connection's whole life, from SYN_SENT or SYN_RECV to CLOSE. */
  ms: number | null;
  /** TIME_WAIT inferred from FIN_WAIT2/CLOSING → CLOSE: the kernel hands the connection to a timewait socket there. */
  derived?: true;
  /** From the polling fallback: a difference between two /proc/net/tcp snapshots, not a kernel event. */
  sampled?: true;
  /**
   * reset-sent: the kernel's reason (sk_rst_reason), where the kernel reports one; drop: the kernel's
   * name of its enum skb_drop_reason value, read from the running kernel.
   */
  reason?: string;
  /** drop: a reason that says nothing about TCP (NOT_SPECIFIED, a queue purged at close), counted but not printed unless asked. */
  noise?: true;
  /** drop: whether the packet was arriving (local end = its destination) or leaving. */
  direction?: 'in' | 'out';
  /** drop: the kernel function that dropped the packet (cookie_v4_check, tcp_v4_rcv…). */
  where?: string;
  /** life: bytes the socket sent and had acknowledged, and bytes it received. */
  bytesSent?: number;
  bytesReceived?: number;
  /**
   * The kernel socket: its address in bpftrace ('0' when there is none, as for a reset to a closed
   * port), a 4-tuple key when sampling. Events of one connection share it while the socket lives; the
   * kernel may reuse an address after the socket is freed.
   */
  sk: string;
}

export interface TraceFilter {
  /** Either end's port is one of these. */
  ports?: number[];
  sports?: number[];
  dports?: number[];
  pids?: number[];
  /** Events in one of these states: state changes from or to one, resets and retransmits of a socket in one (its oldState). */
  states?: TcpState[];
}

export interface TraceOptions extends TraceFilter {
  events?: TraceEventKind[];
}

/** Where a running trace sends what it sees. */
export interface TraceSink {
  event(e: TraceEvent): void;
  /** After each batch of events read at once: a good moment to write buffered output. */
  flush?(): void;
  /** bpftrace reported events the kernel dropped because its perf buffer was full. */
  lost?(events: number): void;
  /** One-line remarks for the user (a tracefs mount, a fallback). */
  notice?(text: string): void;
  /** Ports that were listening before the trace began (their LISTEN is never traced). */
  listening?(ports: readonly number[]): void;
}

/**
 * How events are read: bpftrace (state changes, when asked for with others, from tracefs and merged),
 * tracefs (state changes alone, from a private instance of the kernel's tracing buffer), or poll.
 */
export type TraceBackend = 'bpftrace' | 'tracefs' | 'poll';

export interface TraceHandle {
  backend: TraceBackend;
  /** Events bpftrace reported lost so far (its perf buffer overflowed). */
  lostEvents(): number;
  /** Events the kernel skipped because a BPF program was already running on that CPU (see recursionMisses). */
  missedEvents(): number;
  /**
   * A time (epoch ms, the events' clock) up to which every event has been given to the sink: what a
   * merge of several sources may let out. Absent for sources that are never merged.
   */
  watermarkMs?(): number;
  /** Settles when the trace ends: resolves after close(), rejects if the backend died on its own. */
  done: Promise<void>;
  /** Stop, deliver what is still buffered, and wait until the backend is gone. */
  close(): Promise<void>;
}

/** Whether an event passes the filter (the polling fallback filters here; bpftrace filters in the kernel). */
export function matchesFilter(e: TraceEvent, f: TraceFilter): boolean {
  if (f.ports?.length && !f.ports.includes(e.sport) && !f.ports.includes(e.dport)) return false;
  if (f.sports?.length && !f.sports.includes(e.sport)) return false;
  if (f.dports?.length && !f.dports.includes(e.dport)) return false;
  if (f.pids?.length && (e.pid === null || !f.pids.includes(e.pid))) return false;
  if (f.states?.length) {
    const hit = (s: TcpState | null) => s !== null && f.states!.includes(s);
    if (!hit(e.oldState) && !hit(e.newState)) return false;
  }
  return true;
}
