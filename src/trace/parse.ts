// bpftrace's output as typed trace events: one line in, one message out. Pure. tcplens runs bpftrace
// with text output (each printf of the script is one line); JSON lines (-f json) are read too.

import { formatAddress } from '../kernel/proc-net-tcp.ts';
import type { Family } from '../model/socket.ts';
import type { TcpState } from '../model/tcp-state.ts';
import { dropReasonMeaning } from '../analyze/drop-reasons.ts';
import type { TraceEvent } from './event.ts';
import { stateOfCode } from './script.ts';

export type BpftraceMessage =
  | { kind: 'event'; event: TraceEvent }
  /** bpftrace could not keep up: the kernel dropped this many events from its perf buffer. */
  | { kind: 'lost'; events: number }
  /** Every probe is attached (bpftrace prints this when __BPFTRACE_NOTIFY_PROBES_ATTACHED is set). */
  | { kind: 'attached' }
  /** The script's BEGIN block ran. */
  | { kind: 'begin' }
  /**
   * A text line that is none of the above: the rest of the previous event's process name, which
   * held a newline (a process may name itself anything; text output does not escape it).
   */
  | { kind: 'text'; text: string };

export interface ParseContext {
  /** Add to CLOCK_MONOTONIC milliseconds (bpftrace's nsecs / 1e6) to get epoch milliseconds. */
  monoToEpochMs: number;
  /** Names of tcp_send_reset's reason codes, from the tracepoint's format. */
  resetReasons?: ReadonlyMap<number, string>;
  /** Names of skb:kfree_skb's reason codes (enum skb_drop_reason), from the tracepoint's format. */
  dropReasons?: ReadonlyMap<number, string>;
}

export const ATTACHED_LINE = '__BPFTRACE_NOTIFY_PROBES_ATTACHED';
// The exact prefix bpftrace writes for a printf (JsonOutput::message): a data string with no
// escapes in it can be taken as is, without JSON.parse.
const PRINTF_PREFIX = '{"type": "printf", "data": "';
const PRINTF_SUFFIX = '"}';

/** One line of bpftrace's stdout; null for lines that carry nothing for us. Throws on a malformed event. */
export function parseBpftraceLine(line: string, ctx: ParseContext): BpftraceMessage | null {
  if (line.length === 0) return null;
  let data: string;
  if (line.startsWith(PRINTF_PREFIX) && line.endsWith(PRINTF_SUFFIX) && !line.includes('\\', PRINTF_PREFIX.length)) {
    data = line.slice(PRINTF_PREFIX.length, -PRINTF_SUFFIX.length);
  } else if (line.charCodeAt(0) === 123 /* { */) {
    const msg = JSON.parse(line) as { type?: string; data?: unknown };
    if (msg.type === 'lost_events')
      return { kind: 'lost', events: Number((msg.data as { events?: number })?.events ?? 0) };
    if (msg.type !== 'printf' || typeof msg.data !== 'string') return null;
    data = msg.data;
  } else {
    return parseTextLine(line, ctx);
  }
  if (data === 'B') return { kind: 'begin' };
  return { kind: 'event', event: parseEventData(data, ctx) };
}

/** The tags that start an event's line (script.ts), as character codes. */
const EVENT_TAGS = new Set([...'SRrTYDL'].map((c) => c.charCodeAt(0)));
const LOST = /^Lost (\d+) events$/;

/** A line of bpftrace's text output: an event, the BEGIN mark, a loss, a notice or an empty flush line. */
function parseTextLine(line: string, ctx: ParseContext): BpftraceMessage | null {
  if (line.charCodeAt(1) === 32 /* space */ && EVENT_TAGS.has(line.charCodeAt(0)))
    return { kind: 'event', event: parseEventData(line, ctx) };
  if (line === 'B') return { kind: 'begin' };
  const lost = LOST.exec(line);
  if (lost) return { kind: 'lost', events: Number(lost[1]) };
  const trimmed = line.trim();
  if (trimmed === ATTACHED_LINE) return { kind: 'attached' };
  // bpftrace's own "Attaching 7 probes..." (text output puts it on stdout).
  if (/^Attaching \d+ probes?\.\.\.$/.test(trimmed)) return null;
  return { kind: 'text', text: line };
}

const FAMILY: Record<string, Family> = { '4': 'ipv4', '6': 'ipv6' };

function family(f: string | undefined): Family {
  const fam = FAMILY[f ?? ''];
  if (!fam) throw new Error(`unknown address family '${f}'`);
  return fam;
}

// ntop() prints an IPv4-mapped IPv6 address as ::ffff:a.b.c.d; tcplens shows it as the IPv4 address.
function address(text: string): string {
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
}

function state(code: string | undefined): TcpState | null {
  return stateOfCode(Number(code));
}

/** The process name: the rest of the fields, spaces and all. */
function commOf(f: string[], at: number): string {
  return f.length === at + 1 ? f[at]! : f.slice(at).join(' ');
}

/** A struct sockaddr_in/in6 printed by %rx: 28 bytes as \xNN each. */
export function decodeSockaddr(hex: string): { family: Family; address: string; port: number } {
  const bytes = new Uint8Array(28);
  for (let i = 0; i < 28; i++) bytes[i] = parseInt(hex.slice(i * 4 + 2, i * 4 + 4), 16);
  // sa_family is 2 or 10 in host byte order: one of its two bytes is zero.
  const fam = bytes[0]! | bytes[1]!;
  const port = (bytes[2]! << 8) | bytes[3]!;
  if (fam === 2) return { family: 'ipv4', address: formatAddress(bytes.subarray(4, 8)), port };
  if (fam === 10) return { family: 'ipv6', address: formatAddress(bytes.subarray(8, 24)), port };
  throw new Error(`unknown address family ${fam} in a reset's address`);
}

/**
 * An event from printAddressed()'s layout (script.ts): family sport dport saddr daddr from field
 * `at`, pid and comm from `ownerAt`. Every event is built here or as here, with its fields in one
 * order: this runs for each of tens of thousands of events a second, and objects of one shape stay fast.
 */
function event(
  f: string[],
  type: TraceEvent['type'],
  timeMs: number,
  at: number,
  ownerAt: number,
  oldState: TcpState | null,
  newState: TcpState | null,
  ms: number | null,
): TraceEvent {
  const pid = Number(f[ownerAt]);
  const comm = pid > 0 ? commOf(f, ownerAt + 1) : '';
  return {
    timeMs,
    type,
    pid: pid > 0 ? pid : null,
    comm: comm || null,
    family: family(f[at]),
    saddr: address(f[at + 3]!),
    sport: Number(f[at + 1]),
    daddr: address(f[at + 4]!),
    dport: Number(f[at + 2]),
    oldState,
    newState,
    ms,
    sk: f[2] ?? '0',
  };
}

// ---- state changes: most of what a busy host prints, read without splitting the line ----------

/** Where the field reader stands in the text, and where the line it reads ends. */
let at = 0;
let lineEnd = 0;

/** The end of the field that starts at `at` (a space or the line's end). */
function fieldEnd(line: string): number {
  const sp = line.indexOf(' ', at);
  return sp < 0 || sp > lineEnd ? lineEnd : sp;
}

/** A decimal integer field (an optional '-', then digits), as Number() would read it. */
function intField(line: string): number {
  const end = fieldEnd(line);
  let i = at;
  const negative = line.charCodeAt(i) === 45; /* - */
  if (negative) i++;
  let n = 0;
  // Past 15 digits a double no longer holds every integer, and anything but digits is for Number() to judge.
  for (; i < end && end - i <= 15; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i < end || end === at + (negative ? 1 : 0)) n = Number(line.slice(at, end));
  else if (negative) n = -n;
  at = end + 1;
  return n;
}

function stringField(line: string): string {
  const end = fieldEnd(line);
  const v = line.slice(at, end);
  at = end + 1;
  return v;
}

// The addresses and process names of consecutive events repeat: the last ones are kept and reused
// when the line holds the same text again, instead of a new string for each event.
const lastAddress = ['', ''];
let lastComm = '';

function addressField(line: string): string {
  for (const known of lastAddress) {
    if (known !== '' && line.charCodeAt(at + known.length) === 32 && line.startsWith(known, at)) {
      at += known.length + 1;
      return address(known);
    }
  }
  const v = stringField(line);
  lastAddress[1] = lastAddress[0]!;
  lastAddress[0] = v;
  return address(v);
}

/** The rest of the line: the process name, spaces and all. */
function commField(line: string): string {
  if (lineEnd - at === lastComm.length && line.startsWith(lastComm, at)) return lastComm;
  lastComm = line.slice(at, lineEnd);
  return lastComm;
}

// IPv4 addresses come as numbers: the last two are kept as text, as for addressField.
const lastIpv4 = [-1, -1];
const lastIpv4Text = ['', ''];

function ipv4Field(line: string): string {
  const n = intField(line);
  if (n === lastIpv4[0]) return lastIpv4Text[0]!;
  if (n === lastIpv4[1]) return lastIpv4Text[1]!;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`bad IPv4 address '${n}'`);
  const text = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  lastIpv4[1] = lastIpv4[0]!;
  lastIpv4Text[1] = lastIpv4Text[0]!;
  lastIpv4[0] = n;
  lastIpv4Text[0] = text;
  return text;
}

function stateEvent(line: string, ctx: ParseContext): TraceEvent {
  return parseStateChange(line, 0, line.length, ctx);
}

/** Whether the line that starts at `start` of `text` is a state change (S, script.ts). */
export function isStateChangeAt(text: string, start: number): boolean {
  return text.charCodeAt(start) === 83 /* S */ && text.charCodeAt(start + 1) === 32;
}

/**
 * The state change in text from start to end, read in place (no string for the line): most of what
 * a busy host prints. S now sk code us pid saddr daddr comm, code = old | new << 4 | derived << 8 |
 * ipv6 << 9 | sport << 16 | dport << 32 (script.ts).
 */
export function parseStateChange(line: string, start: number, end: number, ctx: ParseContext): TraceEvent {
  at = start + 2;
  lineEnd = end;
  const timeMs = intField(line) / 1e6 + ctx.monoToEpochMs;
  const sk = stringField(line);
  const code = intField(line);
  if (!Number.isSafeInteger(code) || code < 0)
    throw new Error(`bad state change code in '${line.slice(start, Math.min(end, start + 80))}'`);
  // Past 32 bits, JavaScript's bit operators do not reach: the ports are taken by division.
  const low = code % 65536;
  const us = intField(line);
  const pid = intField(line);
  const ipv6 = (low & 512) !== 0;
  const saddr = ipv6 ? addressField(line) : ipv4Field(line);
  const daddr = ipv6 ? addressField(line) : ipv4Field(line);
  const comm = pid > 0 && at <= lineEnd ? commField(line) : '';
  const e: TraceEvent = {
    timeMs,
    type: 'state',
    pid: pid > 0 ? pid : null,
    comm: comm || null,
    family: ipv6 ? 'ipv6' : 'ipv4',
    saddr,
    sport: Math.floor(code / 65536) % 65536,
    daddr,
    dport: Math.floor(code / 4294967296),
    oldState: stateOfCode(low & 15),
    newState: stateOfCode((low >> 4) & 15),
    ms: us >= 0 ? us / 1000 : null,
    sk,
  };
  if ((low & 256) !== 0) e.derived = true;
  return e;
}

/** The fields of one printf of the script (see script.ts for the layout). */
export function parseEventData(data: string, ctx: ParseContext): TraceEvent {
  if (data.charCodeAt(0) === 83 /* S */ && data.charCodeAt(1) === 32) return stateEvent(data, ctx);
  const f = data.split(' ');
  const timeMs = Number(f[1]) / 1e6 + ctx.monoToEpochMs;
  switch (f[0]) {
    case 'R': {
      const local = decodeSockaddr(f[5]!);
      const remote = decodeSockaddr(f[6]!);
      const pid = Number(f[7]);
      const comm = pid > 0 ? commOf(f, 8) : '';
      const e: TraceEvent = {
        timeMs,
        type: 'reset-sent',
        pid: pid > 0 ? pid : null,
        comm: comm || null,
        family: local.family,
        saddr: local.address,
        sport: local.port,
        daddr: remote.address,
        dport: remote.port,
        // State 0: the reset answers a segment that found no socket (a closed port).
        oldState: state(f[3]),
        newState: null,
        ms: null,
        sk: f[2] ?? '0',
      };
      const reasonCode = Number(f[4]);
      if (reasonCode >= 0) e.reason = ctx.resetReasons?.get(reasonCode) ?? String(reasonCode);
      return e;
    }
    case 'r':
      // State 0: the kernel's BTF was not there to read it from the socket.
      return event(f, 'reset-received', timeMs, 4, 9, state(f[3]), null, null);
    case 'Y':
      return event(f, 'synack-retransmit', timeMs, 3, 8, 'SYN_RECV', null, null);
    case 'T':
      return event(f, 'retransmit', timeMs, 4, 9, state(f[3]), null, null);
    case 'L': {
      const e = event(f, 'life', timeMs, 4, 12, state(f[3]), null, Number(f[9]) / 1000);
      e.bytesSent = Number(f[10]);
      e.bytesReceived = Number(f[11]);
      return e;
    }
    case 'D':
      return dropEvent(f, timeMs, ctx);
    default:
      throw new Error(`unexpected bpftrace output '${data.slice(0, 80)}'`);
  }
}

/** D now sk state reason out family src-port dst-port src dst where pid comm (script.ts): the local end first, as in every event. */
function dropEvent(f: string[], timeMs: number, ctx: ParseContext): TraceEvent {
  const out = f[5] === '1';
  const [local, remote] = out ? [7, 8] : [8, 7];
  const pid = Number(f[12]);
  const comm = pid > 0 ? commOf(f, 13) : '';
  const code = Number(f[4]);
  const reason = ctx.dropReasons?.get(code) ?? `UNKNOWN_${code}`;
  const e: TraceEvent = {
    timeMs,
    type: 'drop',
    pid: pid > 0 ? pid : null,
    comm: comm || null,
    family: family(f[6]),
    saddr: address(f[local + 2]!),
    sport: Number(f[local]),
    daddr: address(f[remote + 2]!),
    dport: Number(f[remote]),
    oldState: state(f[3]),
    newState: null,
    ms: null,
    sk: f[2] ?? '0',
  };
  e.reason = reason;
  e.direction = out ? 'out' : 'in';
  e.where = f[11];
  if (dropReasonMeaning(reason)?.noise) e.noise = true;
  return e;
}

/** The symbolic names of a tracepoint field, from its format file's __print_symbolic(REC->field, {n, "NAME"}, …). */
export function parseSymbolicNames(format: string, field: string): Map<number, string> {
  const names = new Map<number, string>();
  const at = format.indexOf(`__print_symbolic(REC->${field},`);
  if (at < 0) return names;
  // The list ends at the first ')' that closes the call; entries are { number, "NAME" }.
  const end = format.indexOf(')', at + 17 + field.length);
  const re = /\{\s*(\d+)\s*,\s*"([^"]*)"\s*\}/g;
  const list = format.slice(at, end < 0 ? undefined : end);
  for (const m of list.matchAll(re)) names.set(Number(m[1]), m[2]!);
  return names;
}
