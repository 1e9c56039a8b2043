// The bpftrace program behind `tcplens trace`, generated for the chosen events and filters. Pure.
//
// Each event is one printf of one line with fixed, space-separated fields (parsed by parse.ts), the
// process name last because it may contain spaces. bpftrace prints them as text, not -f json: JSON
// output writes and flushes each line on its own, which cost bpftrace more than all else it does. Times are CLOCK_MONOTONIC ns (bpftrace's nsecs), socket
// ids the kernel's sock address in hex; family is 4 or 6; addresses come from ntop(), except for
// resets sent, whose tracepoint gives whole struct sockaddr_in/in6 (28 bytes, printed as %rx hex).
// State changes, most of what a busy host prints, are the exception: bpftrace's cost of an event
// grows with each argument it formats, so their small numbers go in one, code = old | new << 4 |
// derived << 8 | ipv6 << 9 | sport << 16 | dport << 32, and IPv4 addresses as numbers (the address
// read as big-endian), not ntop() text.
//
//   B                                                         BEGIN ran
//   S now sk code us pid saddr daddr comm                                    a state change
//   R now sk state reason sockaddr-local sockaddr-remote pid comm          a reset sent
//   r now sk state family sport dport saddr daddr pid comm                  a reset received
//   T now sk state family sport dport saddr daddr pid comm                  a retransmit
//   Y now req family sport dport saddr daddr pid comm                       a SYN-ACK retransmit
//   D now sk state reason out family sport dport saddr daddr where pid comm a TCP packet dropped
//   L now sk old family sport dport saddr daddr us sent received pid comm  a connection ended
//
// Drops come from skb:kfree_skb: the addresses and ports are read from the packet's own headers
// (kernel BTF gives struct sk_buff, iphdr, ipv6hdr), source first as on the wire; out is 1 for the
// reasons of packets leaving (the local end is then the source); sk is the socket that received it
// (rx_sk, 0 when none was found), where the state for --state and the owner come from; where is
// the kernel function that dropped it (ksym). Ended connections read the bytes acknowledged and
// received from struct tcp_sock as the socket enters CLOSE, as libbpf-tools' tcplife does.
//
// Maps, keyed by the kernel socket's address and deleted when it reaches CLOSE:
//   @ts[sk]  = when it entered its current state (for the time spent in the state it leaves)
//   @birth[sk] = when it entered SYN_SENT or SYN_RECV (the start of a connection's life, for L)
//   @who[sk] = (pid, comm) of its process, learned where only that process can be running: in
//              connect (→ SYN_SENT), listen (→ LISTEN) and close/shutdown (→ FIN_WAIT1, → LAST_ACK);
//              an accepted socket starts with its listener's owner, @lis[netns, port]: listeners are
//              keyed by their network namespace (its inode number, read through BTF; 0 without) and
//              port, so the same port in two namespaces does not mix owners
//   @rst[sk] = a reset went through it (so its FIN_WAIT2/CLOSING → CLOSE is not a TIME_WAIT hand-off,
//              and its CLOSE is not an abort's, below)
// and one keyed by CPU:
//   @closing[cpu] = (sk, pid, comm, old state) of the last socket that entered CLOSE there: an abort
//              (SO_LINGER 0, unread data) sets CLOSE and sends its reset right after, on the same CPU,
//              once @who is gone; the reset takes its owner and the state it was really in from here.
//              A socket closed by a reset it received never sends one: it leaves the slot alone, which
//              matters on loopback, where the peer's CLOSE runs in between, inside the reset's transmit.
// The same state entered again (FIN_WAIT1 → FIN_WAIT1 when close() follows shutdown()) is no change:
// it is not printed and keeps the time the state began. --state applies to every event: state
// changes from or to it, resets and retransmits in it.
// Per event: two or three map operations and one printf; all filters run in the kernel.

import { TCP_STATES, stateCode } from '../model/tcp-state.ts';
import type { TraceEventKind, TraceFilter } from './event.ts';

export interface KnownListener {
  /** The inode number of the listener's network namespace (as in /proc/<pid>/ns/net). */
  netns: number;
  port: number;
  pid: number;
  comm: string;
}

export interface ScriptOptions {
  events: readonly TraceEventKind[];
  filter?: TraceFilter;
  /** Owners of listeners that existed before the trace (found in /proc), so accepted sockets get a pid. */
  listeners?: readonly KnownListener[];
  /** Whether tcp:tcp_send_reset has the `reason` field (Linux 6.10+). */
  resetReason?: boolean;
  /**
   * Whether tcp:tcp_retransmit_skb has the `err` field: such kernels fire it for failed attempts too
   * (a full qdisc, say), and only err == 0 put a segment on the wire.
   */
  retransmitErr?: boolean;
  /** Whether bpftrace can read struct sock (kernel BTF): the state of a socket that receives a reset, which its tracepoint lacks. */
  sockState?: boolean;
  /** The codes of drop reasons given to packets on their way out, in this kernel's numbering. */
  egressDropCodes?: readonly number[];
  /** Whether skb:kfree_skb has rx_sk (Linux 6.12+): the socket that received the dropped packet. */
  dropRxSk?: boolean;
}

// The kernel's codes of the states the rules below turn on (tracefs-states.ts keeps the same rules).
export const SYN_SENT = stateCode('SYN_SENT');
export const SYN_RECV = stateCode('SYN_RECV');
export const FIN_WAIT1 = stateCode('FIN_WAIT1');
export const FIN_WAIT2 = stateCode('FIN_WAIT2');
export const TIME_WAIT = stateCode('TIME_WAIT');
export const CLOSE = stateCode('CLOSE');
export const LAST_ACK = stateCode('LAST_ACK');
export const LISTEN = stateCode('LISTEN');
export const CLOSING = stateCode('CLOSING');
export const AF_INET = 2;
/**
 * How often bpftrace flushes its buffered output (see the interval probe in buildScript). Short: an
 * event's process is looked up when the event arrives (a Node thread's name → its program), and a
 * short-lived client may be gone a few milliseconds after its close.
 */
export const FLUSH_INTERVAL_MS = 25;

/** The tracepoints a choice of events attaches to (sock:inet_sock_set_state always: it tracks owners and times). */
export function tracepointsFor(events: readonly TraceEventKind[]): string[] {
  const tps = ['sock:inet_sock_set_state'];
  if (events.includes('reset') || events.includes('state')) tps.push('tcp:tcp_send_reset', 'tcp:tcp_receive_reset');
  if (events.includes('retrans')) tps.push('tcp:tcp_retransmit_skb');
  if (events.includes('synack')) tps.push('tcp:tcp_retransmit_synack');
  if (events.includes('drop')) tps.push('skb:kfree_skb');
  return tps;
}

// ---- expressions -------------------------------------------------------------------------------

const anyOf = (expr: string, values: readonly number[]) => `(${values.map((v) => `${expr} == ${v}`).join(' || ')})`;

/** The port filter over two port expressions (local, remote), or '' when there is none. */
export function portCondition(local: string, remote: string, f: TraceFilter = {}): string {
  const parts: string[] = [];
  if (f.ports?.length) parts.push(`(${anyOf(local, f.ports)} || ${anyOf(remote, f.ports)})`);
  if (f.sports?.length) parts.push(anyOf(local, f.sports));
  if (f.dports?.length) parts.push(anyOf(remote, f.dports));
  return parts.join(' && ');
}

const and = (...conds: string[]) => conds.filter(Boolean).join(' && ');

/** A big-endian 16-bit number from two bytes of an array. */
const be16 = (arr: string, at: number) => `(((uint16)${arr}[${at}] << 8) | (uint16)${arr}[${at + 1}])`;

/** printf of one event whose addresses are tracepoint arrays: IPv4 (u8[4]) or IPv6 (u8[16]) by family. */
function printAddressed(o: { tag: string; head: [string, string]; tail: [string, string]; indent: string }): string {
  const i = o.indent;
  const line = (fam: number, s: string, d: string) =>
    `printf("${o.tag} ${o.head[0]} ${fam} %d %d %s %s ${o.tail[0]}\\n", ${o.head[1]}, args->sport, args->dport, ntop(${s}), ntop(${d}), ${o.tail[1]});`;
  return (
    `${i}if (args->family == ${AF_INET}) {\n${i}  ${line(4, 'args->saddr', 'args->daddr')}\n` +
    `${i}} else {\n${i}  ${line(6, 'args->saddr_v6', 'args->daddr_v6')}\n${i}}\n`
  );
}

/** An IPv4 address of a tracepoint (u8[4], network order) as one number. */
const ipv4Number = (arr: string) =>
  `(((uint64)${arr}[0] << 24) | ((uint64)${arr}[1] << 16) | ((uint64)${arr}[2] << 8) | (uint64)${arr}[3])`;

/** printf of a state change (S, see the layout above), in sock:inet_sock_set_state with $now, $sk, $old, $shown, $derived, $us, $w. */
function printState(i: string): string {
  const code =
    '((uint64)$old | ((uint64)$shown << 4) | ((uint64)$derived << 8) | ((uint64)args->sport << 16) | ((uint64)args->dport << 32))';
  const line = (v6: boolean, addr: string, s: string, d: string) =>
    `printf("S %llu %llx %llu %lld %llu ${addr} ${addr} %s\\n", $now, $sk, ${code}${v6 ? ' | (1 << 9)' : ''}, $us, $w.0, ${s}, ${d}, $w.1);`;
  return (
    `${i}if (args->family == ${AF_INET}) {\n${i}  ${line(false, '%llu', ipv4Number('args->saddr'), ipv4Number('args->daddr'))}\n` +
    `${i}} else {\n${i}  ${line(true, '%s', 'ntop(args->saddr_v6)', 'ntop(args->daddr_v6)')}\n${i}}\n`
  );
}

/** The network namespace of a socket, as the inode number /proc/<pid>/ns/net shows; 0 where bpftrace cannot read struct sock. */
function netnsOf(sk: string, o: ScriptOptions): string {
  return o.sockState ? `((struct sock *)${sk})->__sk_common.skc_net.net->ns.inum` : '(uint32)0';
}

/** A process name as a bpftrace string literal: printable ASCII only, at most 15 bytes as comm. */
function commLiteral(comm: string): string {
  return `"${comm.replace(/[^\w .:/@+-]/g, '?').slice(0, 15)}"`;
}

// ---- the program ---------------------------------------------------------------------------

export function buildScript(o: ScriptOptions): string {
  const events = new Set(o.events);
  const f = o.filter ?? {};
  const wantState = events.has('state');
  const wantReset = events.has('reset');
  const wantLife = events.has('life');
  const pidCond = (pid: string) => (f.pids?.length ? anyOf(pid, f.pids) : '');
  const codes = (f.states ?? []).map(stateCode);
  /** --state for an event in one state (resets, retransmits): the socket's state then. */
  const inState = (state: string) => (codes.length ? anyOf(state, codes) : '');
  const guarded = (print: (indent: string) => string, cond: string) =>
    cond ? `  if (${cond}) {\n${print('    ')}  }\n` : print('  ');
  const probe = (name: string, pred: string, body: string) => `${name}\n${pred ? `/${pred}/\n` : ''}{\n${body}}\n\n`;
  const ownerTail: [string, string] = ['%llu %s', '$w.0, $w.1'];
  let s = '';

  s += 'BEGIN {\n';
  for (const l of o.listeners ?? []) {
    s += `  @lis[(uint32)${o.sockState ? l.netns : 0}, (uint16)${l.port}] = ((uint64)${l.pid}, ${commLiteral(l.comm)});\n`;
  }
  s += '  printf("B\\n");\n}\n\n';

  // -- state changes: always attached, as owners and times serve every other event --
  let b = `  $sk = (uint64)args->skaddr;\n  $old = args->oldstate;\n  $new = args->newstate;\n${wantState ? '  $now = nsecs;\n' : ''}`;
  b += `  if ($new == ${SYN_SENT} || $new == ${LISTEN} || $new == ${FIN_WAIT1} || $new == ${LAST_ACK}) {\n    @who[$sk] = (pid, comm);\n  }\n`;
  b += `  if ($new == ${LISTEN}) {\n    @lis[${netnsOf('args->skaddr', o)}, args->sport] = (pid, comm);\n  }\n`;
  b += `  if ($old == ${LISTEN} && $new == ${SYN_RECV}) {\n    $l = @lis[${netnsOf('args->skaddr', o)}, args->sport];\n    if ($l.0 != 0) {\n      @who[$sk] = $l;\n    }\n  }\n`;
  if (wantState || wantReset || wantLife) b += '  $w = @who[$sk];\n';
  if (wantState) {
    b += '  $t = @ts[$sk];\n  $us = (int64)-1;\n  if ($t != 0) {\n    $us = (int64)(($now - $t) / 1000);\n  }\n';
    b += `  $derived = 0;\n  if ($new == ${CLOSE} && ($old == ${FIN_WAIT2} || $old == ${CLOSING}) && @rst[$sk] == 0) {\n    $derived = 1;\n  }\n`;
    b += `  $shown = $derived ? ${TIME_WAIT} : $new;\n`;
    const stateCond = codes.length ? `(${anyOf('$old', codes)} || ${anyOf('$shown', codes)})` : '';
    b += guarded(printState, and('$old != $new', stateCond, pidCond('$w.0')));
  }
  if (wantReset)
    b += `  if ($new == ${CLOSE} && $old != $new && @rst[$sk] == 0) {\n    @closing[cpu] = ($sk, $w.0, $w.1, $old);\n  }\n`;
  if (wantLife) {
    // The kernel counts sequence numbers: bytes_acked includes a connecting side's SYN (the first
    // number acknowledged) and our FIN once acknowledged, bytes_received the peer's FIN (which sets
    // SOCK_DONE, bit 1 of sk_flags). Taken off, the counts are the application's bytes.
    b += `  if (($new == ${SYN_SENT} || $new == ${SYN_RECV}) && $old != $new) {\n    @birth[$sk] = (nsecs, $new == ${SYN_SENT} ? 1 : 0);\n  }\n`;
    b += `  if ($new == ${CLOSE}) {\n    $b = @birth[$sk];\n`;
    const body =
      '  $tp = (struct tcp_sock *)args->skaddr;\n  $acked = $tp->bytes_acked;\n' +
      '  if ($b.1 == 1 && $acked > 0) {\n    $acked = $acked - 1;\n  }\n' +
      `  if ($tp->snd_una == $tp->write_seq && ($old == ${FIN_WAIT2} || $old == ${CLOSING} || $old == ${LAST_ACK}) && $acked > 0) {\n    $acked = $acked - 1;\n  }\n` +
      '  $rcvd = $tp->bytes_received;\n  if ((((struct sock *)args->skaddr)->__sk_common.skc_flags & 2) != 0 && $rcvd > 0) {\n    $rcvd = $rcvd - 1;\n  }\n';
    b += guarded(
      (indent) =>
        body.replace(/^(?=.)/gm, indent.slice(2)) +
        printAddressed({
          tag: 'L',
          head: ['%llu %llx %d', 'nsecs, $sk, $old'],
          tail: ['%llu %llu %llu %llu %s', '(nsecs - $b.0) / 1000, $acked, $rcvd, $w.0, $w.1'],
          indent,
        }),
      and('$b.0 != 0', inState('$old'), pidCond('$w.0')),
    ).replace(/^(?=.)/gm, '  ');
    b += `    delete(@birth[$sk]);\n  }\n`;
  }
  // Times serve only state events (the time spent in the old state); the same state again is no new start.
  const forget = `    delete(@who[$sk]);\n${wantState || wantReset ? '    delete(@rst[$sk]);\n' : ''}`;
  b += wantState
    ? `  if ($new == ${CLOSE}) {\n    delete(@ts[$sk]);\n${forget}  } else if ($old != $new) {\n    @ts[$sk] = $now;\n  }\n`
    : `  if ($new == ${CLOSE}) {\n${forget}  }\n`;
  s += probe(
    'tracepoint:sock:inet_sock_set_state',
    and('args->protocol == 6', portCondition('args->sport', 'args->dport', f)),
    b,
  );

  if (wantState || wantReset) {
    // Resets sent: addresses come as struct sockaddr_in/in6, the sender's first.
    b = '  $sk = (uint64)args->skaddr;\n';
    if (wantState) b += `  if (args->state == ${FIN_WAIT2} || args->state == ${CLOSING}) {\n    @rst[$sk] = 1;\n  }\n`;
    if (wantReset) {
      b += '  $w = @who[$sk];\n  $pid = $w.0;\n  $comm = $w.1;\n  $state = args->state;\n';
      b += `  $c = @closing[cpu];\n  if ($state == ${CLOSE} && $c.0 == $sk) {\n    $pid = $c.1;\n    $comm = $c.2;\n    $state = $c.3;\n    delete(@closing[cpu]);\n  }\n`;
      const reason = o.resetReason ? 'args->reason' : '-1';
      b += guarded(
        (i) =>
          `${i}printf("R %llu %llx %d %d %rx %rx %llu %s\\n", nsecs, $sk, $state, ${reason}, buf(args->saddr, 28), buf(args->daddr, 28), $pid, $comm);\n`,
        and(inState('$state'), pidCond('$pid')),
      );
    }
    s += probe('tracepoint:tcp:tcp_send_reset', portCondition(be16('args->saddr', 2), be16('args->daddr', 2), f), b);

    b = '  $sk = (uint64)args->skaddr;\n';
    // tcp_reset() always ends in tcp_done() (→ CLOSE), which deletes the mark.
    b += '  @rst[$sk] = 1;\n';
    if (wantReset) {
      // Its tracepoint has no state: read it from the socket, where the kernel's BTF lets bpftrace.
      b += `  $w = @who[$sk];\n  $state = ${o.sockState ? '((struct sock *)args->skaddr)->__sk_common.skc_state' : '0'};\n`;
      b += guarded(
        (indent) => printAddressed({ tag: 'r', head: ['%llu %llx %d', 'nsecs, $sk, $state'], tail: ownerTail, indent }),
        and(inState('$state'), pidCond('$w.0')),
      );
    }
    s += probe('tracepoint:tcp:tcp_receive_reset', portCondition('args->sport', 'args->dport', f), b);
  }

  // Retransmits: the socket's owner; SYN-ACKs: the listener's (skaddr is the listener, req the request).
  const others = [
    {
      kind: 'retrans',
      tp: 'tcp:tcp_retransmit_skb',
      pre: '  $sk = (uint64)args->skaddr;\n  $w = @who[$sk];\n',
      tag: 'T',
      head: ['%llu %llx %d', 'nsecs, $sk, args->state'],
      cond: inState('args->state'),
      pred: o.retransmitErr ? 'args->err == 0' : '',
    },
    {
      kind: 'synack',
      tp: 'tcp:tcp_retransmit_synack',
      pre: `  $w = @lis[${netnsOf('args->skaddr', o)}, args->sport];\n`,
      tag: 'Y',
      head: ['%llu %llx', 'nsecs, (uint64)args->req'],
      cond: '',
      pred: '',
    },
  ] as const;
  for (const p of others) {
    if (!events.has(p.kind)) continue;
    // A SYN-ACK is retransmitted in SYN_RECV, always.
    if (p.kind === 'synack' && codes.length && !codes.includes(SYN_RECV)) continue;
    b =
      p.pre +
      guarded(
        (indent) => printAddressed({ tag: p.tag, head: [...p.head], tail: ownerTail, indent }),
        and(p.cond, pidCond('$w.0')),
      );
    s += probe(`tracepoint:${p.tp}`, and(p.pred, portCondition('args->sport', 'args->dport', f)), b);
  }

  if (events.has('drop')) s += dropProbe(o, and(inState('$state'), pidCond('$w.0')));

  // bpftrace runs with its stdout fully buffered (one write per 8 KiB, not one per event): this
  // empty line, printed as a value, makes it flush what it holds, so that a quiet host's events
  // still come within FLUSH_INTERVAL_MS.
  s += `interval:ms:${FLUSH_INTERVAL_MS} {\n  print("");\n}\n\n`;

  // Left alone, bpftrace prints every map at exit.
  s += `END {\n${wantLife ? '  clear(@birth);\n' : ''}${wantState ? '  clear(@ts);\n' : ''}${wantState || wantReset ? '  clear(@rst);\n' : ''}${wantReset ? '  clear(@closing);\n' : ''}  clear(@who);\n  clear(@lis);\n}\n`;
  return s;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const TCP_NEW_SYN_RECV = 12;

/**
 * TCP packets freed as dropped: every skb:kfree_skb of IPv4 or IPv6 carrying TCP. The owner is the
 * receiving socket's, or for a listener or a request socket that of the listener on the local port
 * (known from the start of the trace). `cond` is the --state/--pid filter over $state and $w.0.
 */
function dropProbe(o: ScriptOptions, cond: string): string {
  const f = o.filter ?? {};
  const egress = o.egressDropCodes ?? [];
  const byte = (at: string) => `(uint16)*(uint8 *)(${at})`;
  let b =
    '  $skb = (struct sk_buff *)args->skbaddr;\n  $ip = $skb->head + $skb->network_header;\n  $th = $skb->head + $skb->transport_header;\n';
  b += `  $v6 = args->protocol == ${ETH_P_IPV6};\n`;
  b += `  if ((($v6 && ((struct ipv6hdr *)$ip)->nexthdr == 6) || (!$v6 && ((struct iphdr *)$ip)->protocol == 6)) && $skb->transport_header != 0xffff) {\n`;
  b += `    $ps = (${byte('$th')} << 8) | ${byte('$th + 1')};\n    $pd = (${byte('$th + 2')} << 8) | ${byte('$th + 3')};\n`;
  b += `    $out = ${egress.length ? `${anyOf('args->reason', egress)} ? 1 : 0` : '0'};\n`;
  b += '    $lp = $out ? $ps : $pd;\n    $rp = $out ? $pd : $ps;\n';
  if (o.dropRxSk) {
    b += '    $sk = (uint64)args->rx_sk;\n    $w = @who[$sk];\n';
    b += `    $state = $sk != 0 ? ((struct sock *)args->rx_sk)->__sk_common.skc_state : 0;\n`;
    b += `    if ($w.0 == 0 && ($state == ${LISTEN} || $state == ${TCP_NEW_SYN_RECV} || $state == ${SYN_RECV})) {\n      $w = @lis[${netnsOf('args->rx_sk', o)}, (uint16)$lp];\n    }\n`;
  } else {
    // No socket to tell the namespace or the state: no owner either.
    b += '    $sk = (uint64)0;\n    $state = 0;\n    $w = @who[$sk];\n';
  }
  const line = (fam: number, s: string, d: string) =>
    `printf("D %llu %llx %d %d %d ${fam} %d %d %s %s %s %llu %s\\n", nsecs, $sk, $state, args->reason, $out, $ps, $pd, ntop(${s}), ntop(${d}), ksym(args->location), $w.0, $w.1);`;
  const print = (i: string) =>
    `${i}if ($v6) {\n${i}  ${line(6, '((struct ipv6hdr *)$ip)->saddr.in6_u.u6_addr8', '((struct ipv6hdr *)$ip)->daddr.in6_u.u6_addr8')}\n` +
    `${i}} else {\n${i}  ${line(4, '((struct iphdr *)$ip)->saddr', '((struct iphdr *)$ip)->daddr')}\n${i}}\n`;
  const all = and(portCondition('$lp', '$rp', f), cond);
  b += all ? `    if (${all}) {\n${print('      ')}    }\n` : print('    ');
  b += '  }\n';
  return `tracepoint:skb:kfree_skb\n/args->protocol == ${ETH_P_IP} || args->protocol == ${ETH_P_IPV6}/\n{\n${b}}\n\n`;
}

/** The TCP state with kernel code n, as the kernel names it. */
export function stateOfCode(n: number): (typeof TCP_STATES)[number] | null {
  return n >= 1 && n <= TCP_STATES.length ? TCP_STATES[n - 1]! : null;
}
