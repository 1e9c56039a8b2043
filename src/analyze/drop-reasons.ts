// What the kernel's drop reasons mean for TCP, and the counter each one moves, keyed by the kernel's name. Pure.
//
// The names come from the running kernel (the print fmt of skb:kfree_skb): their numbers change
// between kernel versions, their names do not. A name missing here is still traced and printed;
// it just has no meaning to show.

export interface DropReasonMeaning {
  /** One line, in our words. */
  meaning: string;
  /** The counter this drop moves, as nstat names it (section.field, netstat's TcpExt or snmp's Tcp), when there is one. */
  counter?: string;
  /** Says nothing about TCP: counted in the summary, printed only when asked. */
  noise?: true;
  /** The packet was leaving this host (its source is the local end). */
  egress?: true;
}

const m = (meaning: string, counter?: string): DropReasonMeaning => (counter ? { meaning, counter } : { meaning });
const noise = (meaning: string): DropReasonMeaning => ({ meaning, noise: true });
const out = (meaning: string): DropReasonMeaning => ({ meaning, egress: true });

const CATALOG: Record<string, DropReasonMeaning> = {
  NOT_SPECIFIED: noise('dropped without a reason given (the kernel code has not been annotated)'),
  QUEUE_PURGE: noise("a socket's queue emptied as it was destroyed: its packets were already accounted"),
  OTHERHOST: noise('addressed to another host (seen in promiscuous mode)'),
  NO_SOCKET: m(
    'no socket for this segment: a closed port (answered with a reset), or a final ACK whose SYN cookie found a full accept queue',
    'Tcp.OutRsts',
  ),
  SOCKET_CLOSE: m('the socket was closed: packets still queued for it are thrown away'),
  SOCKET_FILTER: m('a socket filter (BPF) refused it'),
  SOCKET_RCVBUFF: m("the socket's receive buffer was full: the application reads too slowly", 'TcpExt.TCPRcvQDrop'),
  SOCKET_BACKLOG: m(
    "the socket's backlog was full while the application held the socket lock",
    'TcpExt.TCPBacklogDrop',
  ),
  PKT_TOO_SMALL: m('a segment shorter than its TCP header', 'Tcp.InErrs'),
  TCP_CSUM: m('bad TCP checksum: a broken NIC, link or middlebox', 'Tcp.InCsumErrors'),
  PROTO_MEM: m('TCP is over its memory limit (net.ipv4.tcp_mem): received data thrown away', 'TcpExt.TCPRcvQDrop'),
  NETFILTER_DROP: m('a firewall rule (netfilter) dropped it'),
  TCP_MD5NOTFOUND: m('a TCP-MD5 signature was required and missing', 'TcpExt.TCPMD5NotFound'),
  TCP_MD5UNEXPECTED: m('a TCP-MD5 signature came where none was expected', 'TcpExt.TCPMD5Unexpected'),
  TCP_MD5FAILURE: m('a TCP-MD5 signature did not verify', 'TcpExt.TCPMD5Failure'),
  TCP_AONOTFOUND: m('TCP-AO was required and missing', 'TcpExt.TCPAORequired'),
  TCP_AOFAILURE: m('a TCP-AO signature did not verify', 'TcpExt.TCPAOBad'),
  TCP_AOKEYNOTFOUND: m('no TCP-AO key matches the segment', 'TcpExt.TCPAOKeyNotFound'),
  TCP_FLAGS: m('a segment with flags the state does not accept (no ACK, say)'),
  TCP_ABORT_ON_DATA: m(
    'data arrived for a socket its application had already closed: the kernel answers with a reset',
    'TcpExt.TCPAbortOnData',
  ),
  TCP_ZEROWINDOW: m('data arrived while the receive window was zero', 'TcpExt.TCPZeroWindowDrop'),
  TCP_OLD_DATA: m(
    'data received twice (a retransmission of what was already here): the sender thought it lost',
    'TcpExt.DelayedACKLost',
  ),
  TCP_OVERWINDOW: m('data beyond the receive window (a zero-window probe, say)'),
  TCP_OFOMERGE: m('out-of-order data already held', 'TcpExt.TCPOFOMerge'),
  TCP_RFC7323_PAWS: m(
    'an old timestamp (PAWS): a segment from an earlier incarnation of the connection, or a reordered one',
    'TcpExt.PAWSEstab',
  ),
  TCP_RFC7323_PAWS_ACK: m('an old timestamp on a pure ACK (PAWS)', 'TcpExt.PAWSOldAck'),
  TCP_RFC7323_TW_PAWS: m('an old timestamp towards a TIME_WAIT socket (PAWS)', 'TcpExt.PAWSTimewait'),
  TCP_RFC7323_TSECR: m('an echoed timestamp this host never sent', 'TcpExt.TSEcrRejected'),
  TCP_LISTEN_OVERFLOW: m(
    "a listener's accept queue was full: the handshake's final ACK (or data after it) was dropped; the application accepts too slowly or its backlog is too small",
    'TcpExt.ListenOverflows',
  ),
  TCP_OLD_SEQUENCE: m('a segment wholly before the receive window (an old duplicate)'),
  TCP_INVALID_SEQUENCE: m('a segment outside the receive window', 'TcpExt.BeyondWindow'),
  TCP_INVALID_END_SEQUENCE: m('a segment that ends outside the receive window'),
  TCP_INVALID_ACK_SEQUENCE: m('a SYN-ACK or ACK that acknowledges what was never sent'),
  TCP_RESET: m('a reset arrived and closed the connection (the segment ends there)'),
  TCP_INVALID_SYN: m('a SYN on an established connection: answered with a challenge ACK', 'TcpExt.TCPSYNChallenge'),
  TCP_CLOSE: m('a segment for a socket already in CLOSE'),
  TCP_FASTOPEN: m('TCP Fast Open data that could not be taken'),
  TCP_OLD_ACK: m('an ACK older than what was already acknowledged'),
  TCP_TOO_OLD_ACK: m('an ACK far older than what was already acknowledged'),
  TCP_ACK_UNSENT_DATA: m('an ACK for data never sent'),
  TCP_OFO_QUEUE_PRUNE: m('out-of-order data pruned under memory pressure', 'TcpExt.OfoPruned'),
  TCP_OFO_DROP: m('out-of-order data with no room to keep it', 'TcpExt.TCPOFODrop'),
  TCP_MINTTL: m('a TTL below the socket minimum (IP_MINTTL)', 'TcpExt.TCPMinTTLDrop'),
  PFMEMALLOC: m('memory reserves were in use and the socket may not take from them', 'TcpExt.PFMemallocDrop'),
  IP_OUTNOROUTES: out('no route to send it on'),
  BPF_CGROUP_EGRESS: out("a cgroup's BPF program refused to send it"),
  NEIGH_FAILED: out('the next hop did not answer ARP/neighbour discovery'),
  NEIGH_QUEUEFULL: out('too many packets waiting for the next hop to be resolved'),
  NEIGH_CREATEFAIL: out('no neighbour entry could be made for the next hop'),
  NEIGH_DEAD: out('the next hop entry went away'),
  TC_EGRESS: out('a traffic-control (tc) egress rule dropped it'),
  QDISC_DROP: out('the queueing discipline dropped it (a full queue)'),
  QDISC_OVERLIMIT: out("over the queueing discipline's limit"),
  QDISC_CONGESTED: out('the queueing discipline signalled congestion'),
  FQ_BAND_LIMIT: out("over the fq qdisc's band limit"),
  FQ_HORIZON_LIMIT: out("beyond the fq qdisc's time horizon"),
  FQ_FLOW_LIMIT: out("over the fq qdisc's per-flow limit"),
  CAKE_FLOOD: out('cake qdisc flood protection'),
  NO_TX_TARGET: out('no device to send it on'),
  TC_INGRESS: m('a traffic-control (tc) ingress rule dropped it'),
  XDP: m('an XDP program dropped it'),
  CPU_BACKLOG: m("the CPU's input backlog was full (net.core.netdev_max_backlog)"),
  IP_INADDRERRORS: m('an invalid destination address', 'Ip.InAddrErrors'),
  IP_INNOROUTES: m('no route for an arriving packet', 'IpExt.InNoRoutes'),
  IP_CSUM: m('bad IP header checksum', 'Ip.InHdrErrors'),
  IP_INHDR: m('a malformed IP header', 'Ip.InHdrErrors'),
  IP_RPFILTER: m('reverse-path filter (rp_filter) refused the source address'),
  NOMEM: m('out of memory'),
};

/** What a drop reason means, by the kernel's name; undefined for names we have no words for. */
export function dropReasonMeaning(name: string): DropReasonMeaning | undefined {
  return Object.hasOwn(CATALOG, name) ? CATALOG[name] : undefined;
}

/** Reasons that say nothing about TCP: counted, not printed one by one unless asked. */
export function isNoiseDropReason(name: string): boolean {
  return dropReasonMeaning(name)?.noise === true;
}

/** Reasons given to packets on their way out. */
export function isEgressDropReason(name: string): boolean {
  return dropReasonMeaning(name)?.egress === true;
}
