// The kernel's TCP states: their numeric codes in /proc/net/tcp, their names, and ss-style aliases.

import { UsageError } from '../errors.ts';

/** The kernel's names (include/net/tcp_states.h), without the TCP_ prefix. */
export const TCP_STATES = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
] as const;

export type TcpState = (typeof TCP_STATES)[number];

/** Name of the state with kernel code `code` (1-based), or UNKNOWN_<code>. */
export function stateName(code: number): TcpState {
  return (TCP_STATES[code - 1] ?? `UNKNOWN_${code}`) as TcpState;
}

/** Kernel code of a state name. */
export function stateCode(name: TcpState): number {
  return TCP_STATES.indexOf(name) + 1;
}

const ALIASES: Record<string, TcpState> = {
  estab: 'ESTABLISHED',
  established: 'ESTABLISHED',
  'syn-sent': 'SYN_SENT',
  'syn-recv': 'SYN_RECV',
  'fin-wait-1': 'FIN_WAIT1',
  'fin-wait-2': 'FIN_WAIT2',
  'time-wait': 'TIME_WAIT',
  tw: 'TIME_WAIT',
  closed: 'CLOSE',
  unconn: 'CLOSE',
  'close-wait': 'CLOSE_WAIT',
  'last-ack': 'LAST_ACK',
  listening: 'LISTEN',
};

/**
 * Parse a state as a user types it: the kernel's name in any case (`time_wait`), with dashes
 * (`time-wait`), or an ss alias (`estab`). Throws UsageError naming the valid choices.
 */
export function parseStateName(input: string): TcpState {
  const lower = input.trim().toLowerCase();
  const alias = ALIASES[lower];
  if (alias) return alias;
  const upper = lower.toUpperCase().replace(/-/g, '_');
  const exact = TCP_STATES.find((s) => s === upper);
  if (exact) return exact;
  // FIN-WAIT-1 style with the dash before the digit
  const squashed = TCP_STATES.find((s) => s === upper.replace(/_(\d)$/, '$1'));
  if (squashed) return squashed;
  throw new UsageError(
    `unknown TCP state '${input}': use one of ${TCP_STATES.join(', ')} (or ss aliases such as estab, time-wait)`,
  );
}
