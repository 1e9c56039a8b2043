// The sysctl catalog: the knobs that matter for TCP under HTTP, what each really does, and what each profile wants.
//
// Facts follow the kernel source, not the folklore often repeated about these knobs: TIME_WAIT is a
// fixed 60 s, tcp_fin_timeout is the FIN_WAIT_2 timeout of orphans, tcp_tw_reuse helps only the
// connect side, tcp_tw_recycle is gone since 4.12, somaxconn is 4096 since 5.4, and
// tcp_max_syn_backlog matters only with syncookies off.

import type { PortRange, SysctlShape } from '../kernel/sysctl.ts';

export const PROFILES = ['server', 'gateway', 'client'] as const;

/**
 * server: accepts connections (an HTTP service). gateway: accepts and also opens many outgoing
 * connections (reverse proxy, API gateway, a service calling backends). client: mostly connects
 * (crawlers, load generators, batch jobs calling APIs).
 */
export type Profile = (typeof PROFILES)[number];

/** What a profile wants of a knob's value; a value meeting the rule is "ok". */
export type Rule =
  | { op: 'equal'; value: number }
  | { op: 'atLeast'; value: number }
  | { op: 'atMost'; value: number }
  /** A port range at least as wide as `value` (any position); `value` is what --emit/--apply set. */
  | { op: 'portsAtLeast'; value: PortRange };

/** A profile's view of one knob: a rule, or null for "no opinion", and the reason either way. */
export interface ProfileAdvice {
  rule: Rule | null;
  why: string;
}

/**
 * Where a knob lives. netns: every network namespace has its own copy. global: one per host, listed
 * only in the initial network namespace. host: outside net.*, shown for context, never written.
 */
export type KnobScope = 'netns' | 'global' | 'host';

export interface KnobInfo {
  /** Dotted sysctl name. */
  name: string;
  shape: SysctlShape;
  scope: KnobScope;
  /** The kernel's default as sysctl text; null when it is computed at boot. */
  default: string | null;
  /** How the default comes about, where it scales with memory or changed between kernels. */
  defaultNote?: string;
  /** What the knob really does, in one or two sentences. */
  what: string;
  advice: Record<Profile, ProfileAdvice>;
}

const noOpinion = (why: string): ProfileAdvice => ({ rule: null, why: `no opinion: ${why}` });
const every = (advice: ProfileAdvice): Record<Profile, ProfileAdvice> => ({
  server: advice,
  gateway: advice,
  client: advice,
});
/** One advice for the two profiles that accept connections (server, gateway), and the client's own. */
const listeners = (both: ProfileAdvice, client: ProfileAdvice): Record<Profile, ProfileAdvice> => ({
  server: both,
  gateway: both,
  client,
});
/** One advice for the two profiles that open many connections (gateway, client), and the server's own. */
const connectors = (server: ProfileAdvice, both: ProfileAdvice): Record<Profile, ProfileAdvice> => ({
  server,
  gateway: both,
  client: both,
});

export const SYSCTL_CATALOG: readonly KnobInfo[] = [
  {
    name: 'net.core.somaxconn',
    shape: 'int',
    scope: 'netns',
    default: '4096',
    defaultNote: '128 before Linux 5.4',
    what:
      'Upper bound on every accept queue: a listener holds at most min(backlog given to listen(), somaxconn) ' +
      'finished handshakes waiting for accept(). Node passes 511 unless listen({ backlog }) says otherwise.',
    advice: listeners(
      {
        rule: { op: 'atLeast', value: 4096 },
        why: 'lets a listen backlog up to 4096 take effect (kernels before 5.4 cap it at 128); raise listen({ backlog }) with it if ListenOverflows grows',
      },
      noOpinion('a client does not listen'),
    ),
  },
  {
    name: 'net.ipv4.tcp_max_syn_backlog',
    shape: 'int',
    scope: 'netns',
    default: null,
    defaultNote: 'max(128, tcp_ehash_entries / 128): scales with memory',
    what:
      'Limit on half-open (SYN_RECV) requests, enforced only while tcp_syncookies is 0. With cookies on, a SYN ' +
      "queue full at the listener's backlog answers with cookies instead of dropping.",
    advice: every(
      noOpinion(
        'irrelevant while tcp_syncookies=1 (recommended); only if you turn cookies off, raise it above your listen backlog',
      ),
    ),
  },
  {
    name: 'net.ipv4.tcp_syncookies',
    shape: 'int',
    scope: 'netns',
    default: '1',
    what:
      "1: when a listener's SYN queue is full, reply with a SYN cookie instead of dropping the SYN " +
      '(SyncookiesSent). 2 sends cookies always, 0 drops.',
    advice: every({
      rule: { op: 'equal', value: 1 },
      why: 'keeps accepting through SYN bursts and floods; the drops that hurt are accept-queue overflows, which cookies do not cause',
    }),
  },
  {
    name: 'net.ipv4.tcp_abort_on_overflow',
    shape: 'int',
    scope: 'netns',
    default: '0',
    what:
      "When the accept queue is full, 1 answers the client's final ACK with a reset; 0 ignores it, so the " +
      'client retransmits and gets in once the application catches up.',
    advice: listeners(
      {
        rule: { op: 'equal', value: 0 },
        why: 'a short burst should cost a retransmit, not a connection reset; fix slow accept() instead',
      },
      noOpinion('only listeners use it'),
    ),
  },
  {
    name: 'net.ipv4.tcp_tw_reuse',
    shape: 'int',
    scope: 'netns',
    default: '2',
    defaultNote: 'loopback only; 0 on old kernels',
    what:
      'Lets connect() take a local port still held by a TIME_WAIT socket to the same peer once it is ' +
      'tcp_tw_reuse_delay old (1 s), if both sides use timestamps. Outgoing connections only; 2 = loopback only.',
    advice: connectors(
      noOpinion(
        'accepted connections all share the listening port, so reuse never helps them; if this host also calls backends use --profile gateway',
      ),
      {
        rule: { op: 'equal', value: 1 },
        why: 'many short outgoing connections: a port in TIME_WAIT is reusable after ~1 s, not 60 s, which postpones EADDRNOTAVAIL (never tcp_tw_recycle: removed in 4.12)',
      },
    ),
  },
  {
    name: 'net.ipv4.tcp_tw_reuse_delay',
    shape: 'int',
    scope: 'netns',
    default: '1000',
    defaultNote: 'milliseconds; Linux 6.13+, older kernels use a fixed 1 s',
    what:
      'How long (ms) after entering TIME_WAIT a socket may hand its port to a new connection under tcp_tw_reuse. ' +
      "Below the peer's timestamp clock tick, PAWS can reject the new connection's packets.",
    advice: every(
      noOpinion("1000 ms is safe with any peer's timestamp clock; keep keep-alive on rather than shaving this"),
    ),
  },
  {
    name: 'net.ipv4.tcp_fin_timeout',
    shape: 'int',
    scope: 'netns',
    default: '60',
    what:
      "How long a socket the application already closed waits in FIN_WAIT_2 for the peer's FIN. It does NOT " +
      'shorten TIME_WAIT, which lasts a fixed 60 s on Linux.',
    advice: listeners(
      {
        rule: { op: 'atMost', value: 30 },
        why: 'frees the sockets of peers that never finish closing after 30 s instead of 60 s; TIME_WAIT counts will not change',
      },
      noOpinion('the servers a client talks to close properly; it does not shorten TIME_WAIT either way'),
    ),
  },
  {
    name: 'net.ipv4.tcp_max_tw_buckets',
    shape: 'int',
    scope: 'netns',
    default: null,
    defaultNote: 'tcp_ehash_entries / 2: scales with memory',
    what:
      'Cap on TIME_WAIT sockets; past it, new ones are destroyed at once (TCPTimeWaitOverflow, "time wait bucket ' +
      'table overflow"), losing the protection TIME_WAIT exists for.',
    advice: every(
      noOpinion('raise it only if TCPTimeWaitOverflow grows (tcplens counters); never lower it to hide TIME_WAIT'),
    ),
  },
  {
    name: 'net.ipv4.ip_local_port_range',
    shape: 'range',
    scope: 'netns',
    default: '32768 60999',
    what:
      'Ports connect() picks from when the application binds none: at most this many connections (TIME_WAIT ' +
      'included) to one destination ip:port at a time. Accepted connections do not use it.',
    advice: connectors(noOpinion('accepted connections use the listening port, not ephemeral ones'), {
      rule: { op: 'portsAtLeast', value: { low: 10000, high: 65535 } },
      why: 'about twice the default 28,232 ports per destination before EADDRNOTAVAIL; any range as wide is fine. Reserve your own listening ports above 10000 in ip_local_reserved_ports',
    }),
  },
  {
    name: 'net.ipv4.ip_local_reserved_ports',
    shape: 'ports',
    scope: 'netns',
    default: '',
    what:
      'Ports inside ip_local_port_range that automatic port choice skips (bind() to them explicitly still works), ' +
      'e.g. "8080,9000-9010".',
    advice: every(
      noOpinion(
        'list the ports your services listen on inside ip_local_port_range, so outgoing connections can never take them before the service binds',
      ),
    ),
  },
  {
    name: 'net.ipv4.tcp_keepalive_time',
    shape: 'int',
    scope: 'netns',
    default: '7200',
    what:
      'Idle seconds before the first keepalive probe, for sockets with SO_KEEPALIVE on. Keepalive finds peers that ' +
      "vanished silently; a reset is noticed on the next read or write anyway. Node's socket.setKeepAlive(true, ms) sets its own idle time.",
    advice: connectors(
      {
        rule: { op: 'atMost', value: 600 },
        why: 'with intvl 30 and 5 probes, finds clients that vanished (power loss, dropped NAT state) in 12.5 min instead of 2 h 11 min',
      },
      {
        rule: { op: 'atMost', value: 300 },
        why: 'stays below the idle timeout of typical NATs and load balancers (e.g. 350 s on AWS), so idle pooled connections are not silently dropped',
      },
    ),
  },
  {
    name: 'net.ipv4.tcp_keepalive_intvl',
    shape: 'int',
    scope: 'netns',
    default: '75',
    what: "Seconds between unanswered keepalive probes; a socket's own TCP_KEEPINTVL wins over it.",
    advice: every({
      rule: { op: 'atMost', value: 30 },
      why: 'with 5 probes a dead peer is declared after 2.5 min of silence instead of 11 min',
    }),
  },
  {
    name: 'net.ipv4.tcp_keepalive_probes',
    shape: 'int',
    scope: 'netns',
    default: '9',
    what: 'Unanswered keepalive probes before the connection is reset and the application gets ETIMEDOUT.',
    advice: every({
      rule: { op: 'atMost', value: 5 },
      why: 'five lost probes in a row are proof enough; nine only delays the verdict',
    }),
  },
  {
    name: 'net.ipv4.tcp_syn_retries',
    shape: 'int',
    scope: 'netns',
    default: '6',
    what:
      'SYN retransmissions before connect() fails with ETIMEDOUT: the default gives up after about 130 s. On ' +
      'kernels with tcp_syn_linear_timeouts the first retries are 1 s apart and add to this count.',
    advice: connectors(noOpinion('it only governs outgoing connections'), {
      rule: { op: 'atMost', value: 3 },
      why: 'an unreachable host fails in about 15-20 s instead of 2 min, so retries and failover can start; set connect timeouts in the app too',
    }),
  },
  {
    name: 'net.ipv4.tcp_synack_retries',
    shape: 'int',
    scope: 'netns',
    default: '5',
    what:
      'SYN-ACK retransmissions for a handshake whose final ACK never comes (at 1, 3, 7, 15 and 31 s; given up ' +
      'at ~63 s); the request holds a SYN-queue slot meanwhile.',
    advice: every(
      noOpinion(
        'with syncookies on, a full SYN queue falls back to cookies, so lowering this buys little and hurts clients on lossy links',
      ),
    ),
  },
  {
    name: 'net.ipv4.tcp_max_orphans',
    shape: 'int',
    scope: 'global',
    default: null,
    defaultNote: 'scales with memory (about tcp_ehash_entries / 2)',
    what:
      'Cap on sockets the application closed that are still finishing (FIN_WAIT_1/2, CLOSING, LAST_ACK); past it ' +
      'they are reset ("too many orphaned sockets"). Each may pin up to ~64 KiB of unswappable memory.',
    advice: every(noOpinion('raise it only on "too many orphaned sockets" in dmesg; never lower it')),
  },
  {
    name: 'net.core.netdev_max_backlog',
    shape: 'int',
    scope: 'global',
    default: '1000',
    what:
      'Per-CPU queue of received packets waiting for protocol processing (RPS, veth, loopback, non-NAPI drivers); ' +
      "overflows are dropped and counted in /proc/net/softnet_stat's second column.",
    advice: {
      server: noOpinion("raise it (e.g. to 16384) if /proc/net/softnet_stat's second column grows"),
      gateway: {
        rule: { op: 'atLeast', value: 16384 },
        why: 'a gateway receives on both sides; bursts on fast links overflow 1000 packets per CPU, and the memory is used only while packets wait',
      },
      client: noOpinion("raise it if /proc/net/softnet_stat's second column grows"),
    },
  },
  {
    name: 'net.ipv4.tcp_timestamps',
    shape: 'int',
    scope: 'netns',
    default: '1',
    what:
      'RFC 7323 timestamps: better RTT estimates and PAWS, and what tcp_tw_reuse relies on to reuse a TIME_WAIT ' +
      'port safely. 2 = the same without per-connection random offsets.',
    advice: every({
      rule: { op: 'atLeast', value: 1 },
      why: 'keep them on: without timestamps tcp_tw_reuse does nothing and PAWS cannot protect fast connections',
    }),
  },
  {
    name: 'fs.file-max',
    shape: 'int',
    scope: 'host',
    default: null,
    defaultNote: 'scales with memory; systemd may raise it to the maximum',
    what: 'System-wide limit on open file handles; every socket is one (in use: /proc/sys/fs/file-nr).',
    advice: every(noOpinion('context only; tcplens never changes fs.*')),
  },
  {
    name: 'fs.nr_open',
    shape: 'int',
    scope: 'host',
    default: '1048576',
    what: "Ceiling on any process's RLIMIT_NOFILE: a hard limit above it cannot be set.",
    advice: every(noOpinion('context only; tcplens never changes fs.*')),
  },
];

/** What a profile wants of RLIMIT_NOFILE: every connection is a file descriptor. */
export interface NofileAdvice {
  /** Minimum soft limit, or null for no opinion. */
  min: number | null;
  why: string;
}

const NOFILE_WHY =
  'every connection is a file descriptor: below this, accept() and connect() fail with EMFILE under load. ' +
  'Set LimitNOFILE= in the systemd unit (Node raises its soft limit to the hard one at start)';

export const NOFILE_ADVICE: Record<Profile, NofileAdvice> = {
  server: { min: 65536, why: NOFILE_WHY },
  gateway: { min: 65536, why: `${NOFILE_WHY}; a gateway holds two per proxied request` },
  client: { min: 65536, why: NOFILE_WHY },
};

export function findKnob(name: string): KnobInfo | undefined {
  return SYSCTL_CATALOG.find((k) => k.name === name);
}
