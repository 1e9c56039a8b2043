// What the kernel counters that matter for HTTP over TCP mean, in one line each, and which ones hurt.

export interface CounterMeaning {
  /** One line, in our words, true of current Linux kernels. */
  meaning: string;
  /**
   * When it moves, something went wrong for a connection: a SYN or final ACK dropped, a
   * connection reset or aborted, data waited for a retransmission. Marked in the output.
   */
  harmful: boolean;
}

type Catalog = Record<string, Record<string, CounterMeaning>>;

const ok = (meaning: string): CounterMeaning => ({ meaning, harmful: false });
const bad = (meaning: string): CounterMeaning => ({ meaning, harmful: true });

// Keyed by the kernel's section, then field. sockstat sections are keyed as 'sockstat.TCP' so
// that they cannot be confused with the snmp 'Tcp' section.
const CATALOG: Catalog = {
  Tcp: {
    ActiveOpens: ok('connect() calls that sent a SYN (this host opening connections)'),
    PassiveOpens: ok('incoming connections whose handshake completed on a listener (this host accepting)'),
    AttemptFails: bad(
      'connection attempts that died before ESTABLISHED: connect() refused or timed out, or a half-open incoming one reset',
    ),
    EstabResets: bad(
      'ESTABLISHED or CLOSE_WAIT connections that went straight to CLOSED: reset by either side or aborted',
    ),
    CurrEstab: ok('connections in ESTABLISHED right now (a level, not a count of events)'),
    InSegs: ok('TCP segments received, including those with errors'),
    OutSegs: ok('TCP segments sent, retransmissions not included'),
    RetransSegs: bad(
      'segments sent again, SYNs and SYN-ACKs included: each is a loss someone waited for (compare with OutSegs)',
    ),
    InErrs: bad(
      'segments received that TCP threw away as broken: bad checksum, malformed header, and some drops on arrival',
    ),
    OutRsts: ok('segments sent with RST: refusing closed ports and invalid segments, and aborting connections'),
    InCsumErrors: bad('segments received with a bad checksum (a broken NIC, link or middlebox)'),
    RtoAlgorithm: ok("how the retransmission timeout is computed; 1 ('other') is Linux's own (a constant)"),
    RtoMin: ok('the lowest retransmission timeout in ms (a constant of this kernel)'),
    RtoMax: ok('the highest retransmission timeout in ms (a constant of this kernel)'),
    MaxConn: ok('the limit on connections; -1 means none (a constant)'),
  },
  TcpExt: {
    ListenOverflows: bad(
      "a listener's accept queue was full: a SYN or a handshake's final ACK was dropped (the ACK gets an RST with tcp_abort_on_overflow=1); the app accepts too slowly or its backlog is too small",
    ),
    ListenDrops: bad(
      'packets a listener dropped for any reason: every ListenOverflow, plus SYN-queue drops without cookies, memory and routing failures',
    ),
    TCPReqQFullDoCookies: ok(
      'the SYN queue (capped by the listen backlog) was full, or tcp_syncookies=2: the SYN got a cookie instead of a queue entry; the connection still works',
    ),
    TCPReqQFullDrop: bad(
      'the SYN queue was full and syncookies are off (tcp_syncookies=0): the SYN was dropped, the client retries after 1 s',
    ),
    SyncookiesSent: ok('SYN-ACKs carrying a SYN cookie (the SYN queue was full, or tcp_syncookies=2 forces them)'),
    SyncookiesRecv: ok('handshakes completed from a valid cookie, without a SYN-queue entry'),
    SyncookiesFailed: ok(
      'ACKs to a listener that recently sent cookies whose cookie did not check out: mostly stray or forged ACKs',
    ),
    EmbryonicRsts: ok('half-open incoming connections (SYN_RECV) ended by a reset, sent or received'),
    TW: ok('sockets that began TIME_WAIT (a fixed 60 s on Linux) or the timed wait of an orphaned FIN_WAIT2 socket'),
    TWRecycled: ok(
      "connect() took over a TIME_WAIT socket's address and ports (tcp_tw_reuse; outgoing connections only)",
    ),
    TWKilled: ok(
      'TIME_WAIT-type sockets given 4 s or less to live; today only orphaned FIN_WAIT2 ones when tcp_fin_timeout or TCP_LINGER2 is that small',
    ),
    TCPTimeWaitOverflow: bad(
      'a closing socket skipped TIME_WAIT because tcp_max_tw_buckets was reached (the kernel logs "time wait bucket table overflow")',
    ),
    PAWSActive: ok(
      'SYN-ACKs refused by connect() because the timestamp they echo is not one it sent (stale or forged)',
    ),
    PAWSEstab: ok(
      'segments dropped on established connections because their timestamp was older than the last one (PAWS: old duplicates)',
    ),
    TCPAbortOnData: bad(
      'connections reset because the application closed with SO_LINGER 0 (socket.resetAndDestroy) or data arrived after it had closed',
    ),
    TCPAbortOnClose: bad(
      'connections reset because the application closed them with data still unread in the receive buffer',
    ),
    TCPAbortOnMemory: bad(
      'orphaned connections killed with a reset because of too many orphans (tcp_max_orphans) or TCP memory over tcp_mem',
    ),
    TCPAbortOnTimeout: bad(
      'connections given up after their retries ran out: retransmissions (tcp_retries2, tcp_syn_retries), keepalive probes or TCP_USER_TIMEOUT',
    ),
    TCPAbortOnLinger: bad(
      'orphaned connections reset in FIN_WAIT2 instead of waiting, because TCP_LINGER2 was negative',
    ),
    TCPAbortFailed: bad('the kernel wanted to send a reset for an abort and could not (no memory)'),
    TCPTimeouts: bad(
      'retransmission timer expiries: a full RTO passed without an ACK (the slow way to recover a loss)',
    ),
    TCPSynRetrans: bad(
      'SYNs (connect side) and SYN-ACKs (listen side) sent again after no answer; each costs the client 1 s, then 2 s, 4 s…',
    ),
    TCPLostRetransmit: bad('retransmitted segments that were lost again'),
    TCPFastRetrans: ok('segments resent early on duplicate ACKs or SACKs, without waiting for the RTO'),
    TCPLossProbes: ok('tail loss probes sent to find out whether the last segments were lost'),
    TCPSpuriousRTOs: ok('retransmission timeouts later found unnecessary (the ACK was only late)'),
    TCPBacklogDrop: bad('segments dropped because the socket was busy in the application and its backlog was full'),
    TCPRcvQDrop: bad('segments dropped because the receive buffer had no room (the application reads too slowly)'),
    TCPZeroWindowDrop: bad('segments dropped because this side had advertised a zero window'),
    TCPOFODrop: bad('out-of-order segments dropped for lack of receive memory'),
    PruneCalled: ok('receive queues squeezed to fit their buffer under memory pressure'),
    RcvPruned: bad('segments dropped because squeezing the receive queue was not enough'),
    TCPMemoryPressures: bad('times TCP as a whole entered memory pressure (tcp_mem middle value)'),
    TCPRetransFail: bad('retransmissions the local stack failed to hand to the device (qdisc or driver full)'),
    TCPDeferAcceptDrop: ok('bare ACKs ignored on a TCP_DEFER_ACCEPT listener while it waits for the first data'),
    TCPKeepAlive: ok('keepalive probes sent (SO_KEEPALIVE: they find peers that vanished silently)'),
    TCPChallengeACK: ok('challenge ACKs sent in answer to suspicious RSTs or SYNs (RFC 5961)'),
    TCPMigrateReqSuccess: ok('requests moved to another SO_REUSEPORT listener when theirs closed (tcp_migrate_req)'),
    TCPMigrateReqFailure: bad('requests that could not be moved to another SO_REUSEPORT listener and were lost'),
  },
  Ip: {
    InReceives: ok('IP packets received, errors included'),
    InDiscards: bad('received IP packets dropped without an error in them (no buffer space)'),
    OutDiscards: bad('outgoing IP packets dropped without an error in them (no buffer space)'),
    OutNoRoutes: bad('outgoing IP packets dropped because no route matched'),
    DefaultTTL: ok('the TTL put on outgoing packets (net.ipv4.ip_default_ttl)'),
  },
  IpExt: {
    InOctets: ok('bytes received in IP packets'),
    OutOctets: ok('bytes sent in IP packets'),
  },
  Udp: {
    NoPorts: ok('UDP datagrams to a port nobody listens on'),
    InErrors: bad('UDP datagrams received and dropped: bad checksum or no room in the receive buffer'),
    RcvbufErrors: bad('UDP datagrams dropped because the socket receive buffer was full'),
    SndbufErrors: bad('UDP datagrams not sent because the socket send buffer was full'),
  },
  'sockstat.sockets': {
    used: ok('sockets of every family and protocol that exist now'),
  },
  'sockstat.TCP': {
    inuse: ok('IPv4 TCP sockets in the lookup tables now: listening, connecting or connected; TIME_WAIT not included'),
    orphan: ok(
      'TCP sockets (v4 and v6, all namespaces) the application closed that are still finishing (FIN_WAIT1, LAST_ACK…); capped by tcp_max_orphans',
    ),
    tw: ok('TCP sockets (v4 and v6) in TIME_WAIT now, plus orphaned FIN_WAIT2 ones; capped by tcp_max_tw_buckets'),
    alloc: ok(
      'TCP sockets (v4 and v6, all namespaces) allocated now, in any state, closed ones not yet freed included',
    ),
    mem: ok('memory all TCP buffers use now, in pages (compare with net.ipv4.tcp_mem)'),
  },
  'sockstat.TCP6': {
    inuse: ok('IPv6 TCP sockets in the lookup tables now; TIME_WAIT not included'),
  },
  'sockstat.UDP': {
    inuse: ok('IPv4 UDP sockets now'),
    mem: ok('memory UDP buffers use now, in pages'),
  },
};

/** Every counter the catalog explains, as [section, field] pairs in catalog order. */
export function cataloguedCounters(): Array<[section: string, field: string]> {
  return Object.entries(CATALOG).flatMap(([section, fields]) =>
    Object.keys(fields).map((field): [string, string] => [section, field]),
  );
}

/** The meaning of a counter, if the catalog has one. `section` is 'TcpExt', or 'sockstat.TCP' for sockstat. */
export function meaningOf(section: string, field: string): CounterMeaning | undefined {
  return CATALOG[section]?.[field];
}
