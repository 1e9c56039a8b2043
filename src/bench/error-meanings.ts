// One line per error code a load run meets: what it means for the client, the server or the kernel.

const MEANINGS: Record<string, string> = {
  EADDRNOTAVAIL:
    'no free local port towards this destination: the ephemeral range is used up, usually by TIME_WAIT from short connections — use keep-alive, widen ip_local_port_range, or tcp_tw_reuse=1',
  ECONNREFUSED: 'nothing listens on the port, or the listener is gone: the kernel answered the SYN with RST',
  ECONNRESET:
    'the peer reset the connection: it aborted (SO_LINGER 0, crash), its accept queue overflowed with tcp_abort_on_overflow=1, or it closed with unread data',
  ETIMEDOUT: 'the kernel gave up: SYNs or data went unanswered through every retransmit',
  EPIPE: 'we wrote after the peer had closed its side: the server closed a connection we still used',
  EHOSTUNREACH: 'no route to the host (or an ICMP host-unreachable came back)',
  ENETUNREACH: 'no route to the network',
  EMFILE: 'this process ran out of file descriptors: raise ulimit -n or use fewer connections',
  ENFILE: 'the system ran out of file descriptors (fs.file-max)',
  ENOTFOUND: 'the host name did not resolve',
  EAI_AGAIN: 'DNS did not answer in time',
  timeout: 'no complete response within --timeout: the server is slow or stalled',
  'connect-timeout': 'no connection within --connect-timeout: SYNs dropped (a full SYN or accept queue, a firewall) or the host is down',
  parse: 'the response was not valid HTTP/1.x, or arrived with no request outstanding',
  closed: 'the server closed the connection before answering a request on it (an idle keep-alive close racing a new request, or a crash)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed: use --insecure for a test server',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed root: use --insecure for a test server',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate chain is incomplete or untrusted',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is not for this host name',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server did not answer TLS: is this an http port?',
};

export function errorMeaning(code: string): string {
  return MEANINGS[code] ?? 'see the message';
}
