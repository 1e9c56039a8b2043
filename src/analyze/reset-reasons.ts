// What the kernel's reset reasons (enum sk_rst_reason, Linux 6.10+) say, keyed by the kernel's name. Pure.

const MEANINGS: Record<string, string> = {
  NO_SOCKET: 'nothing listens there (or the connection is long gone)',
  TCP_ABORT_ON_CLOSE: 'the application closed its socket with data unread',
  TCP_ABORT_ON_DATA: 'data arrived after the application had closed its socket',
  TCP_ABORT_ON_LINGER: "an orphaned connection's FIN_WAIT2 outlived tcp_fin_timeout",
  TCP_ABORT_ON_MEMORY: 'TCP ran out of memory for orphaned sockets',
  TCP_KEEPALIVE_TIMEOUT: 'keepalive probes went unanswered',
  TCP_DISCONNECT_WITH_DATA: 'the application disconnected (SO_LINGER 0, or connect(AF_UNSPEC)) with data in flight',
  TCP_STATE: 'a segment the connection could not take in its state (often the abort of SO_LINGER 0)',
  TCP_TIMEWAIT_SOCKET: 'a segment for a connection in TIME_WAIT that it could not take',
  TCP_INVALID_ACK_SEQUENCE: 'an ACK for data never sent',
  TCP_RFC7323_PAWS: 'an old timestamp (PAWS)',
  TCP_TOO_OLD_ACK: 'an ACK far older than what was acknowledged',
  TCP_ACK_UNSENT_DATA: 'an ACK for data not yet sent',
  TCP_FLAGS: 'a segment with flags the state does not accept',
  TCP_OLD_ACK: 'an ACK older than what was acknowledged',
  INVALID_SYN: 'a SYN where none was expected',
};

/** A one-line meaning of a reset reason, or undefined for names we have no words for. */
export function resetReasonMeaning(name: string): string | undefined {
  return Object.hasOwn(MEANINGS, name) ? MEANINGS[name] : undefined;
}
