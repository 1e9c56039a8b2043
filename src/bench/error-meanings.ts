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
  EPROTO: 'TLS failed at the protocol level: the server speaks another TLS version, or no TLS at all',
  EMFILE: 'this process ran out of file descriptors: raise ulimit -n or use fewer connections',
  ENFILE: 'the system ran out of file descriptors (fs.file-max)',
  ENOTFOUND: 'the host name did not resolve',
  EAI_AGAIN: 'DNS did not answer in time',
  timeout: 'no complete response within --timeout: the server is slow or stalled',
  'connect-timeout':
    'no connection within --connect-timeout: SYNs dropped (a full SYN or accept queue, a firewall) or the host is down',
  parse: 'the response was not valid HTTP/1.x, or arrived with no request outstanding',
  closed:
    'the server closed the connection before answering a request on it (an idle keep-alive close racing a new request, or a crash)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed: use --insecure for a test server',
  SELF_SIGNED_CERT_IN_CHAIN:
    'the certificate chain ends in an untrusted self-signed root: use --insecure for a test server',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate chain is incomplete or untrusted',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is not for this host name',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS on this port: use http://',
};

// Node reports most TLS failures with code EPROTO and OpenSSL's reason only in the message, so the
// reason decides the meaning.
const BY_MESSAGE: [RegExp, string][] = [
  [/wrong version number|packet length too long|record layer failure/i, MEANINGS.ERR_SSL_WRONG_VERSION_NUMBER!],
  [/unsupported protocol|no protocols available/i, 'the server and this client share no TLS version'],
  [/alert handshake failure|no shared cipher/i, 'the TLS handshake failed: no cipher or version both ends accept'],
];

/** What an error code means for a load test; the message refines codes that cover many causes (EPROTO). */
export function errorMeaning(code: string, message = ''): string {
  for (const [pattern, meaning] of BY_MESSAGE) if (pattern.test(message)) return meaning;
  return MEANINGS[code] ?? 'see the message';
}

// OpenSSL's error line: "<thread id>:error:<code>:<library>:<function>:<reason>:<file>:<line>:".
const OPENSSL = /[0-9A-F]+:error:[0-9A-F]+:[^:\n]*:([^:\n]*):([^:\n]*):[^:\n]*:\d+:/g;

/**
 * A message as one short line: OpenSSL's error lines become their reason ("wrong version number
 * (OpenSSL tls_validate_record_header)"), newlines and runs of spaces one space. Pure.
 */
export function oneLineMessage(message: string): string {
  return message
    .replace(OPENSSL, (_all, fn: string, reason: string) => `${reason} (OpenSSL ${fn})`)
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Why a connection failed, said once: "ENETUNREACH (no route to the network)" rather than the
 * code followed by Node's message, which repeats the code and the address.
 */
export function describeConnectFailure(err: { code?: string; message?: string }): string {
  const code = err.code;
  const message = oneLineMessage(err.message ?? '');
  if (!code) return message || 'unknown error';
  if (code === 'ECONNREFUSED') return 'nothing listens there (ECONNREFUSED)';
  const meaning = errorMeaning(code, message);
  return meaning === 'see the message' ? code : `${code} (${meaning})`;
}
