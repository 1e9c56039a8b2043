// State changes straight from the kernel's tracing ring buffer (a private tracefs instance), without
// bpftrace: sock:inet_sock_set_state recorded by the kernel, filtered there by protocol and port, read
// as binary pages and turned into the same events as bpftrace's (owners, time in the old state,
// TIME_WAIT hand-offs) here, with the rules of script.ts.

import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { UnsupportedPlatformError } from '../errors.ts';
import { formatAddress } from '../kernel/socket-row.ts';
import { isThreadName, programName } from '../kernel/processes.ts';
import {
  openTracefsInstance,
  parseEventFormat,
  type FormatField,
  type TracefsInstance,
} from '../kernel/tracefs-instance.ts';
import { readPage } from '../kernel/tracefs-ring.ts';
import { monoToEpochMs } from './bpftrace.ts';
import { stateCode, type TcpState } from '../model/tcp-state.ts';
import type { TraceEvent, TraceFilter, TraceHandle, TraceSink } from './event.ts';
import {
  AF_INET,
  CLOSE,
  CLOSING,
  FIN_WAIT1,
  FIN_WAIT2,
  LAST_ACK,
  LISTEN,
  portCondition,
  SYN_RECV,
  SYN_SENT,
  stateOfCode,
  TIME_WAIT,
  type KnownListener,
} from './script.ts';

export interface TracefsStatesOptions extends TraceFilter {
  /** The tracefs mount. */
  root: string;
  /** Owners of listeners that existed before the trace, so accepted sockets get a pid. */
  listeners?: readonly KnownListener[];
  /** How often the buffers are read, ms (default 25). */
  intervalMs?: number;
  /** Epoch ms at CLOCK_MONOTONIC 0 (see BpftraceOptions), shared with bpftrace when both run. */
  monoToEpochMs?: number;
  /** Per-CPU buffer, KiB (default: defaultBufferKb()). */
  bufferKb?: number;
}

const IPPROTO_TCP = 6;

const STATE_EVENT = 'sock/inet_sock_set_state';
const SEND_RESET = 'tcp/tcp_send_reset';
const RECEIVE_RESET = 'tcp/tcp_receive_reset';

/**
 * Records a CPU may still be writing when its buffer is read (reserved, not yet committed) carry a
 * time a little before the read: only records older than the read by this much are put in order and
 * handled; the rest wait for the next read.
 */
const COMMIT_MARGIN_NS = 2_000_000;
/** How long a process's name and thread group stay cached: pids are reused. */
const OWNER_CACHE_MS = 1_000;

interface Owner {
  pid: number;
  comm: string | null;
  /** The network namespace the task ran in (the inode number of /proc/PID/ns/net), 0 when unknown. */
  netns: number;
}

/** A record in its page, waiting to be put in time order with the other CPUs'. */
interface RawRecord {
  ns: number;
  kind: 0 | 1 | 2; // state change, reset sent, reset received
  page: Buffer;
  /** Where the record starts in its page. */
  at: number;
}

/** How often the buffers' loss counters are read (each is a file per CPU). */
const LOST_EVERY_MS = 1_000;

function field(fields: Map<string, FormatField>, name: string, event: string): FormatField {
  const f = fields.get(name);
  if (!f) throw new Error(`${event} has no field ${name} in this kernel`);
  return f;
}

/** A kernel address as bpftrace's %llx prints it. */
export function hexAddress(b: Buffer, at: number): string {
  const hi = b.readUInt32LE(at + 4);
  const lo = b.readUInt32LE(at);
  // A socket's address comes with each of its events: its text is made once, keyed by the low half.
  const known = hexCache.get(lo);
  if (known !== undefined && known.hi === hi) return known.text;
  const low = lo.toString(16);
  const text = hi === 0 ? low : hi.toString(16) + low.padStart(8, '0');
  if (hexCache.size >= 65_536) hexCache.clear();
  hexCache.set(lo, { hi, text });
  return text;
}
const hexCache = new Map<number, { hi: number; text: string }>();

/**
 * Per-CPU buffer: 8 MiB (about 100,000 state changes, seconds of a busy host, to ride out a stalled
 * reader), within 64 MiB in all over the CPUs the kernel keeps a buffer for, at least 4 pages.
 */
export function defaultBufferKb(cpus: number): number {
  return Math.max(16, Math.min(8192, Math.floor(65_536 / Math.max(1, cpus))));
}

/** The tracefs filter of a trace's ports (protocol TCP always): the kernel keeps nothing else. */
export function stateFilter(f: TraceFilter): string {
  const ports = portCondition('sport', 'dport', f);
  return ports ? `protocol == ${IPPROTO_TCP} && ${ports}` : `protocol == ${IPPROTO_TCP}`;
}

/** Ports of `listeners` that listen in more than one network namespace. */
export function portsInSeveralNamespaces(listeners: readonly KnownListener[]): number[] {
  const seen = new Map<number, Set<number>>();
  for (const l of listeners) seen.set(l.port, (seen.get(l.port) ?? new Set()).add(l.netns));
  return [...seen].filter(([, spaces]) => spaces.size > 1).map(([port]) => port);
}

/**
 * Why tracefs cannot give the same state events as bpftrace here, or undefined when it can: it has
 * no instances, or the state tracepoint is missing, or the trace is about a port that listens in
 * several network namespaces (`listeners` are those of the ports asked for, when some are): a record
 * carries no namespace, so the owners of the sockets they accept could not be told apart.
 */
export function tracefsUnusable(root: string, listeners: readonly KnownListener[], f: TraceFilter): string | undefined {
  if (!existsSync(`${root}/instances`)) return `this kernel's tracefs has no instances (${root}/instances)`;
  if (!existsSync(`${root}/events/${STATE_EVENT}/format`)) return `${root}/events/${STATE_EVENT} is missing`;
  const shared = portsInSeveralNamespaces(listeners);
  if (shared.length && (f.ports?.length || f.sports?.length))
    return `port ${shared.join(', ')} listens in more than one network namespace, whose owners only bpftrace tells apart`;
  return undefined;
}

/** Start reading state changes from a private tracefs instance; close the handle to stop (it removes the instance). */
export function startTracefsStates(o: TracefsStatesOptions, sink: TraceSink): TraceHandle {
  const formats = new Map<string, Map<string, FormatField>>();
  const ids = new Map<number, 0 | 1 | 2>();
  const events: { name: string; filter: string }[] = [];
  const wanted: [string, 0 | 1 | 2, (fields: Map<string, FormatField>) => string][] = [
    [STATE_EVENT, 0, () => stateFilter(o)],
    // A reset through a socket means its FIN_WAIT2/CLOSING → CLOSE is no TIME_WAIT hand-off (kernels
    // whose tracepoints lack the fields filtered on keep every reset: only a little more to read).
    [SEND_RESET, 1, (f) => (f.has('state') ? `state == ${FIN_WAIT2} || state == ${CLOSING}` : '')],
    [RECEIVE_RESET, 2, (f) => (f.has('sport') && f.has('dport') ? portCondition('sport', 'dport', o) : '')],
  ];
  for (const [name, kind, filter] of wanted) {
    let text: string;
    try {
      text = readFileSync(`${o.root}/events/${name}/format`, 'utf8');
    } catch {
      if (kind === 0) throw new UnsupportedPlatformError(`this kernel has no tracepoint ${name.replace('/', ':')}`);
      continue;
    }
    const { id, fields } = parseEventFormat(text);
    formats.set(name, fields);
    ids.set(id, kind);
    events.push({ name, filter: filter(fields) });
  }
  const sf = formats.get(STATE_EVENT)!;
  const F = {
    pid: field(sf, 'common_pid', STATE_EVENT).offset,
    sk: field(sf, 'skaddr', STATE_EVENT).offset,
    old: field(sf, 'oldstate', STATE_EVENT).offset,
    new: field(sf, 'newstate', STATE_EVENT).offset,
    sport: field(sf, 'sport', STATE_EVENT).offset,
    dport: field(sf, 'dport', STATE_EVENT).offset,
    family: field(sf, 'family', STATE_EVENT).offset,
    saddr: field(sf, 'saddr', STATE_EVENT).offset,
    daddr: field(sf, 'daddr', STATE_EVENT).offset,
    saddr6: field(sf, 'saddr_v6', STATE_EVENT).offset,
    daddr6: field(sf, 'daddr_v6', STATE_EVENT).offset,
  };
  const sendSk = formats.has(SEND_RESET) ? field(formats.get(SEND_RESET)!, 'skaddr', SEND_RESET).offset : 0;
  const recvSk = formats.has(RECEIVE_RESET) ? field(formats.get(RECEIVE_RESET)!, 'skaddr', RECEIVE_RESET).offset : 0;

  let instance: TracefsInstance;
  try {
    instance = openTracefsInstance({ root: o.root, events, bufferKb: o.bufferKb ?? defaultBufferKb });
  } catch (err) {
    throw new UnsupportedPlatformError(
      `cannot open a tracefs instance in ${o.root}/instances: ${(err as Error).message}`,
    );
  }
  const toEpochMs = o.monoToEpochMs ?? monoToEpochMs();

  // -- the socket maps of script.ts, kept here --
  const who = new Map<string, Owner>();
  const since = new Map<string, number>();
  const reset = new Set<string>();
  // Listeners by port, then by network namespace (its inode number): an accepted socket takes the
  // owner of its port's listener when only one namespace listens there (a record carries no namespace).
  const listeners = new Map<number, Map<number, Owner>>();
  const listening = (port: number) => {
    let spaces = listeners.get(port);
    if (!spaces) listeners.set(port, (spaces = new Map()));
    return spaces;
  };
  for (const l of o.listeners ?? []) listening(l.port).set(l.netns, { pid: l.pid, comm: l.comm, netns: l.netns });
  const shared = portsInSeveralNamespaces(o.listeners ?? []);
  if (shared.length)
    sink.notice?.(
      `port ${shared.join(', ')} listens in more than one network namespace: the sockets accepted there show their owner once it closes them (trace --port ${shared[0]} tells the owners apart)`,
    );

  // -- owners: the task that ran the kernel code (common_pid, a thread id) as its process and name --
  let owners = new Map<number, Owner>();
  let ownersSince = Date.now();
  let savedCmdlines: Map<number, string> | undefined;
  const ownerOf = (tid: number): Owner => {
    let w = owners.get(tid);
    if (w) return w;
    try {
      const status = readFileSync(`/proc/${tid}/status`, 'latin1');
      const name = /^Name:\t(.*)$/m.exec(status)?.[1] ?? '';
      const pid = Number(/^Tgid:\t(\d+)$/m.exec(status)?.[1] ?? tid);
      // The name as the kernel keeps it: /proc escapes a newline in it as \n.
      const comm = name.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      let netns = 0;
      try {
        netns = Number(/^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${tid}/ns/net`))?.[1] ?? 0);
      } catch {
        // gone meanwhile
      }
      w = { pid, comm: isThreadName(comm) ? programName(pid, comm) : comm || null, netns };
    } catch {
      // Gone already: the name the tracer saw it run under, if any.
      savedCmdlines ??= readSavedCmdlines(o.root);
      w = { pid: tid, comm: savedCmdlines.get(tid) ?? null, netns: 0 };
    }
    owners.set(tid, w);
    return w;
  };

  const stateCodes = (o.states ?? []).map(stateCode);
  const pids = o.pids ?? [];
  let lastIpv4 = [-1, -1];
  let lastIpv4Text = ['', ''];
  const ipv4 = (b: Buffer, at: number): string => {
    const n = b.readUInt32BE(at);
    if (n === lastIpv4[0]) return lastIpv4Text[0]!;
    if (n === lastIpv4[1]) return lastIpv4Text[1]!;
    const text = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    lastIpv4 = [n, lastIpv4[0]!];
    lastIpv4Text = [text, lastIpv4Text[0]!];
    return text;
  };

  const handleState = (ns: number, b: Buffer, r: number): TraceEvent | undefined => {
    const sk = hexAddress(b, r + F.sk);
    const old = b.readInt32LE(r + F.old);
    const nw = b.readInt32LE(r + F.new);
    const sport = b.readUInt16LE(r + F.sport);
    if (nw === SYN_SENT || nw === LISTEN || nw === FIN_WAIT1 || nw === LAST_ACK)
      who.set(sk, ownerOf(b.readInt32LE(r + F.pid)));
    if (nw === LISTEN) {
      const owner = who.get(sk)!;
      listening(sport).set(owner.netns, owner);
    } else if (old === LISTEN && nw === CLOSE) {
      // close() of a listener runs in its owner's namespace.
      listeners.get(sport)?.delete(ownerOf(b.readInt32LE(r + F.pid)).netns);
    }
    if (old === LISTEN && nw === SYN_RECV) {
      const spaces = listeners.get(sport);
      if (spaces?.size === 1) who.set(sk, spaces.values().next().value!);
    }
    const w = who.get(sk);
    const t = since.get(sk);
    const us = t === undefined ? -1 : Math.floor((ns - t) / 1000);
    const derived = nw === CLOSE && (old === FIN_WAIT2 || old === CLOSING) && !reset.has(sk);
    const shown = derived ? TIME_WAIT : nw;
    let e: TraceEvent | undefined;
    if (
      old !== nw &&
      (stateCodes.length === 0 || stateCodes.includes(old) || stateCodes.includes(shown)) &&
      (pids.length === 0 || (w !== undefined && pids.includes(w.pid)))
    ) {
      const v6 = b.readUInt16LE(r + F.family) !== AF_INET;
      e = {
        timeMs: ns / 1e6 + toEpochMs,
        type: 'state',
        pid: w ? w.pid : null,
        comm: w ? w.comm : null,
        family: v6 ? 'ipv6' : 'ipv4',
        saddr: v6 ? formatAddress(b.subarray(r + F.saddr6, r + F.saddr6 + 16)) : ipv4(b, r + F.saddr),
        sport,
        daddr: v6 ? formatAddress(b.subarray(r + F.daddr6, r + F.daddr6 + 16)) : ipv4(b, r + F.daddr),
        dport: b.readUInt16LE(r + F.dport),
        oldState: stateOfCode(old) as TcpState | null,
        newState: stateOfCode(shown) as TcpState | null,
        ms: us >= 0 ? us / 1000 : null,
        sk,
      };
      if (derived) e.derived = true;
    }
    if (nw === CLOSE) {
      since.delete(sk);
      who.delete(sk);
      reset.delete(sk);
    } else if (old !== nw) since.set(sk, ns);
    return e;
  };

  // -- reading: each CPU's records are in order; across CPUs they are merged by time --
  const queues: RawRecord[][] = instance.cpus.map(() => []);
  const cpuIndex = new Map(instance.cpus.map((c, i) => [c, i]));
  let lost = 0;
  let lostReadMs = 0;
  /** Every record up to this time (the events' clock) has been handled. */
  let deliveredUpToMs = -Infinity;
  const readAll = (final: boolean) => {
    const nowMs = Date.now();
    if (nowMs - ownersSince > OWNER_CACHE_MS) {
      owners = new Map();
      ownersSince = nowMs;
    }
    savedCmdlines = undefined;
    const readAtNs = Number(process.hrtime.bigint());
    instance.drain((cpu, page, length) => {
      const q = queues[cpuIndex.get(cpu)!]!;
      readPage(page, 0, length, instance.layout, (ns, at) => {
        const kind = ids.get(page.readUInt16LE(at));
        if (kind !== undefined) q.push({ ns, kind, page, at });
      });
    });
    const upTo = final ? Infinity : readAtNs - COMMIT_MARGIN_NS;
    deliveredUpToMs = upTo / 1e6 + toEpochMs;
    const heads = queues.map(() => 0);
    let any = false;
    for (;;) {
      let best: RawRecord | undefined;
      let bestCpu = -1;
      for (let c = 0; c < queues.length; c++) {
        const r = queues[c]![heads[c]!];
        if (r !== undefined && r.ns <= upTo && (best === undefined || r.ns < best.ns)) {
          best = r;
          bestCpu = c;
        }
      }
      if (best === undefined) break;
      heads[bestCpu]!++;
      if (best.kind === 0) {
        const e = handleState(best.ns, best.page, best.at);
        if (e) {
          sink.event(e);
          any = true;
        }
      } else {
        const sk = hexAddress(best.page, best.at + (best.kind === 1 ? sendSk : recvSk));
        if (reset.size >= 65_536) reset.clear();
        reset.add(sk);
      }
    }
    for (let c = 0; c < queues.length; c++) if (heads[c]) queues[c]!.splice(0, heads[c]!);
    if (any) sink.flush?.();
    if (final || nowMs - lostReadMs >= LOST_EVERY_MS) {
      lostReadMs = nowMs;
      const nowLost = instance.lostEvents();
      if (nowLost > lost) {
        sink.lost?.(nowLost - lost);
        lost = nowLost;
      }
    }
  };

  const { promise: done, resolve: resolveDone, reject: rejectDone } = Promise.withResolvers<void>();
  done.catch(() => {});
  let stopped = false;
  const removeOnExit = () => instance.close();
  process.on('exit', removeOnExit);
  const stop = (err?: Error) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    try {
      if (!err) readAll(true);
    } catch (e) {
      err = new UnsupportedPlatformError(`reading the tracefs buffers failed: ${(e as Error).message}`);
    }
    instance.close();
    process.off('exit', removeOnExit);
    if (err) rejectDone(err);
    else resolveDone();
  };
  const timer = setInterval(() => {
    try {
      readAll(false);
    } catch (err) {
      stop(
        new UnsupportedPlatformError(
          `reading the tracefs buffers failed, so the trace ended early: ${(err as Error).message}`,
        ),
      );
    }
  }, o.intervalMs ?? 25);

  return {
    backend: 'tracefs',
    watermarkMs: () => (stopped ? Infinity : deliveredUpToMs),
    lostEvents: () => lost,
    missedEvents: () => 0,
    done,
    close: async () => {
      stop();
      await done.catch(() => {});
    },
  };
}

/** The top-level saved_cmdlines (pid → the name it last ran under while tracing was on). */
function readSavedCmdlines(root: string): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const line of readFileSync(`${root}/saved_cmdlines`, 'latin1').split('\n')) {
      const sp = line.indexOf(' ');
      if (sp > 0) out.set(Number(line.slice(0, sp)), line.slice(sp + 1));
    }
  } catch {
    // not there: no name
  }
  return out;
}
