// The shared shape of the kernel's network counters: /proc/net/snmp, netstat and sockstat{,6}.

/**
 * One section's fields in the kernel's order, by the kernel's own names: `{ ListenOverflows: 3, … }`.
 * Values are JavaScript numbers: exact up to 2^53, which no real counter reaches; a few are
 * negative by design (Tcp MaxConn is -1, "no limit").
 */
export type CounterFields = Record<string, number>;

/** Sections by the kernel's own names ('Tcp', 'TcpExt', 'TCP6', …), in the order the files list them. */
export type CounterSections = Record<string, CounterFields>;

/**
 * Everything `tcplens counters` reads at one instant.
 *
 * The two families stay apart because their sections share a name space (sockstat has a 'TCP',
 * snmp a 'Tcp') and because their numbers mean different things: the snmp/netstat fields are
 * mostly monotonic event counters, the sockstat fields are all current levels.
 */
export interface Counters {
  /** /proc/net/snmp and /proc/net/netstat: Ip, Icmp, IcmpMsg, Tcp, Udp, UdpLite, TcpExt, IpExt, MPTcpExt, … */
  sections: CounterSections;
  /** /proc/net/sockstat and /proc/net/sockstat6: sockets, TCP, UDP, UDPLITE, RAW, FRAG, TCP6, UDP6, … */
  sockstat: CounterSections;
}

/** What a parser keeps, plus what it had to skip, said in words a user can act on. */
export interface ParsedCounters {
  sections: CounterSections;
  problems: string[];
}
