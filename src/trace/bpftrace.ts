// The eBPF backend of `tcplens trace`: checks the host, runs bpftrace on the generated script and streams its events.

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { PermissionError, type TcplensError, UnsupportedPlatformError } from '../errors.ts';
import { isThreadName, programName, scanProcesses } from '../kernel/processes.ts';
import { DEFAULT_TRACE_EVENTS, type TraceEvent, type TraceHandle, type TraceOptions, type TraceSink } from './event.ts';
import { planEvents } from './kernel-support.ts';
import { readListenRows } from './listen-rows.ts';
import {
  ATTACHED_LINE,
  isStateChangeAt,
  parseBpftraceLine,
  parseStateChange,
  parseSymbolicNames,
  type ParseContext,
} from './parse.ts';
import { releaseOnTimer } from './release-timer.ts';
import { ReorderBuffer } from './reorder.ts';
import { buildScript, tracepointsFor, type KnownListener } from './script.ts';

/** bpftrace is not installed (or not where we look). */
export class BpftraceMissingError extends UnsupportedPlatformError {}

export interface BpftraceOptions extends TraceOptions {
  /** Path of bpftrace; default: TCPLENS_BPFTRACE, else found on PATH and in the usual sbin/bin directories. */
  bpftracePath?: string;
  /** Per-CPU perf buffer in 4 KiB pages (BPFTRACE_PERF_RB_PAGES, a power of two); default: defaultPerfPages(). */
  perfPages?: number;
  /** Entries per socket map (BPFTRACE_MAP_KEYS_MAX): sockets tracked at once; default 65,536. */
  mapKeys?: number;
  /** How long bpftrace may take to compile and attach; default 60 s. */
  startTimeoutMs?: number;
  /**
   * The shortest time each event waits for older ones read late from another CPU's buffer; default
   * DEFAULT_HOLD_MS. The wait grows with bpftrace's delivery lag, up to MAX_HOLD_MS (reorder.ts).
   */
  reorderHoldMs?: number;
  /**
   * Epoch ms at CLOCK_MONOTONIC 0, which turns the kernel's times into wall-clock ones; given when
   * events of several sources are merged, so that they all convert alike (Date.now() has only ms).
   */
  monoToEpochMs?: number;
  /** The listeners known before the trace, when the caller has already read them (knownListeners: a walk of every process's descriptors). */
  listeners?: { owned: KnownListener[]; ports: number[] };
}

/** Epoch ms at CLOCK_MONOTONIC 0, as well as Date.now() tells. */
export function monoToEpochMs(): number {
  return Date.now() - Number(process.hrtime.bigint()) / 1e6;
}

const APT_FIX = 'apt-get install -y bpftrace';
const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The bpftrace binary to run, or a BpftraceMissingError with the command that installs it. */
export function findBpftrace(explicit = process.env.TCPLENS_BPFTRACE): string {
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new BpftraceMissingError(`bpftrace not found at ${explicit}: install it with ${APT_FIX}, or use --fallback`);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const p = join(dir, 'bpftrace');
    if (isExecutable(p)) return p;
  }
  throw new BpftraceMissingError(
    `bpftrace is not installed: ${APT_FIX} (Debian/Ubuntu), or use --fallback to sample /proc/net/tcp`,
  );
}

/** eBPF needs root here (bpftrace 0.17 refuses anything else). */
export function requireRoot(): void {
  if (process.getuid?.() !== 0 && process.geteuid?.() !== 0) {
    throw new PermissionError(
      'tracing with eBPF needs root: run it with sudo, or use --fallback to sample /proc/net/tcp without root',
    );
  }
}

/** The tracefs mount bpftrace reads tracepoint formats from; mounts it when missing (root only). */
export function ensureTracefs(notice?: (text: string) => void): string {
  for (const root of TRACEFS) if (existsSync(`${root}/events`)) return root;
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS[0]!], { encoding: 'utf8' });
  if (r.status === 0 && existsSync(`${TRACEFS[0]}/events`)) {
    notice?.(`mounted tracefs on ${TRACEFS[0]} (bpftrace reads tracepoints there)`);
    return TRACEFS[0]!;
  }
  const why = (r.stderr || r.error?.message || '').trim().split('\n')[0] || `exit ${r.status}`;
  throw new UnsupportedPlatformError(
    `tracefs is not mounted and mounting it failed (${why}): mount -t tracefs nodev ${TRACEFS[0]}, or use --fallback`,
  );
}

/** Checks that each tracepoint exists; returns the names of tcp_send_reset's reason codes (empty before Linux 6.10). */
export function checkTracepoints(root: string, tracepoints: readonly string[]): Map<number, string> {
  let reasons = new Map<number, string>();
  for (const tp of tracepoints) {
    const [sys, name] = tp.split(':') as [string, string];
    const path = `${root}/events/${sys}/${name}/format`;
    let format: string;
    try {
      format = readFileSync(path, 'utf8');
    } catch {
      const which = tp === 'sock:inet_sock_set_state' ? 'state changes' : `--events without ${eventOf(tp)}`;
      throw new UnsupportedPlatformError(
        `this kernel has no tracepoint ${tp} (${path} is missing; Linux 4.16 or later has it): try ${which}, or use --fallback`,
      );
    }
    if (name === 'tcp_send_reset') reasons = parseSymbolicNames(format, 'reason');
  }
  return reasons;
}

/** Whether a tracepoint's format has a field (kernels add fields: tcp_retransmit_skb's err, say). */
export function tracepointHasField(root: string, tp: string, field: string): boolean {
  const [sys, name] = tp.split(':') as [string, string];
  try {
    return new RegExp(`\\bfield:[^;]*\\b${field}(\\[\\d+\\])?;`).test(
      readFileSync(`${root}/events/${sys}/${name}/format`, 'utf8'),
    );
  } catch {
    return false;
  }
}

/** Whether bpftrace can read kernel structs (struct sock) here: the kernel exposes its BTF (TCPLENS_BTF names another file to look for). */
export function hasKernelBtf(path = process.env.TCPLENS_BTF || '/sys/kernel/btf/vmlinux'): boolean {
  return existsSync(path);
}

/** A tracepoint's format file, or undefined when this kernel has no such tracepoint. */
export function readFormat(root: string, tp: string): string | undefined {
  const [sys, name] = tp.split(':') as [string, string];
  try {
    return readFileSync(`${root}/events/${sys}/${name}/format`, 'utf8');
  } catch {
    return undefined;
  }
}

function eventOf(tp: string): string {
  if (tp.includes('reset')) return 'reset';
  if (tp.includes('synack')) return 'synack';
  if (tp.includes('kfree_skb')) return 'drop';
  return 'retrans';
}

/** At most this many listeners go into the script: each is a line of its BEGIN block to compile. */
const MAX_LISTENERS = 256;

/** One process in each network namespace, by the namespace's inode number (/proc/<pid>/ns/net). */
export function namespacesOfProcesses(procRoot = '/proc'): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/${pid}/ns/net`));
      if (m && !out.has(Number(m[1]))) out.set(Number(m[1]), Number(pid));
    } catch {
      // gone, or a kernel thread we may not read
    }
  }
  return out;
}

/**
 * The listeners that exist now, in every network namespace (each read through /proc/<pid>/net/tcp
 * of a process inside it, as far as its listeners go): their owners, so that sockets they accept during the trace carry a pid,
 * and every listening port, owned or not, so that the summary names a connection by its server's
 * port also when the trace never saw its listener start.
 */
export function knownListeners(ports?: readonly number[]): { owned: KnownListener[]; ports: number[] } {
  const byInode = new Map<number, { netns: number; port: number }>();
  const namespaces = namespacesOfProcesses();
  if (namespaces.size === 0) namespaces.set(0, process.pid);
  for (const [netns, pid] of namespaces) {
    // Unreadable (the process gone): accepted sockets just show no owner until their process closes them.
    for (const table of ['tcp', 'tcp6']) {
      for (const row of readListenRows(`/proc/${pid}/net/${table}`)) {
        if (row.inode && (!ports?.length || ports.includes(row.port)))
          byInode.set(row.inode, { netns, port: row.port });
      }
    }
  }
  if (byInode.size === 0) return { owned: [], ports: [] };
  const listening = [...new Set([...byInode.values()].map((l) => l.port))];
  const owners = scanProcesses(new Set(byInode.keys())).byInode;
  const out = new Map<string, KnownListener>();
  for (const [inode, { netns, port }] of byInode) {
    const o = owners.get(inode);
    const key = `${netns}:${port}`;
    if (o && !out.has(key)) out.set(key, { netns, port, pid: o.pid, comm: o.command });
    if (out.size === MAX_LISTENERS) break;
  }
  return { owned: [...out.values()], ports: listening };
}

/**
 * Perf buffer pages per CPU: 4 MiB per CPU (enough to ride out a stall of about a second at 20,000+
 * events/s, where bpftrace's default 256 KiB overflowed in our benchmark), within 64 MiB in all.
 */
export function defaultPerfPages(cpus = availableParallelism()): number {
  const pages = Math.min(1024, Math.max(64, Math.floor((64 << 20) / 4096 / Math.max(1, cpus))));
  return 2 ** Math.floor(Math.log2(pages));
}

/**
 * Events the kernel skipped without running our programs: a BPF program was already running on that
 * CPU (a softirq that interrupts one of ours, say), so the nested tracepoint's was not. The kernel
 * counts these per program (recursion_misses in the fdinfo of each program, Linux 5.12+).
 */
export function recursionMisses(pid: number): number {
  let total = 0;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const m = /^recursion_misses:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return total;
}

// bpftrace's stderr lines that say nothing to the user: it cannot raise RLIMIT_MEMLOCK in some
// containers, and needs not (the kernel accounts BPF memory by cgroup since 5.11).
const HARMLESS = [/RLIMIT_MEMLOCK/, /^\s*$/, new RegExp(ATTACHED_LINE)];

function firstProblem(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => !HARMLESS.some((re) => re.test(l)));
}

function bpftraceError(
  stderr: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  started: boolean,
): TcplensError {
  const line = firstProblem(stderr);
  if (!started && line && /root|permission|EPERM|not permitted/i.test(line)) {
    return new PermissionError(`bpftrace was refused: ${line} (run as root, or use --fallback)`);
  }
  const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
  // Once tracing, an end nobody asked for (someone killed it, it crashed) cuts the trace short.
  const when = started ? ' while tracing, so the trace ended early' : '';
  return new UnsupportedPlatformError(`bpftrace ${how}${when}${line ? `: ${line}` : ''}`);
}

/**
 * Start tracing through bpftrace. Resolves once every probe is attached (events from then on are
 * seen); rejects with a one-line typed error when the host cannot trace (not root, no bpftrace,
 * no tracefs, a tracepoint missing) or bpftrace fails to start.
 */
export async function startBpftrace(o: BpftraceOptions, sink: TraceSink): Promise<TraceHandle> {
  if (process.platform !== 'linux')
    throw new UnsupportedPlatformError(`tracing needs Linux (this is ${process.platform})`);
  requireRoot();
  const bpftrace = o.bpftracePath ?? findBpftrace();
  const root = ensureTracefs(sink.notice);
  const btf = hasKernelBtf();
  const plan = planEvents(o.events?.length ? o.events : DEFAULT_TRACE_EVENTS, {
    kfreeSkbFormat: readFormat(root, 'skb:kfree_skb'),
    btf,
  });
  if (plan.notices.length) sink.notice?.(plan.notices.join('; '));
  const events = plan.events;
  const resetReasons = checkTracepoints(root, tracepointsFor(events));
  const listeners =
    o.listeners ??
    knownListeners(o.ports?.length || o.sports?.length ? [...(o.ports ?? []), ...(o.sports ?? [])] : undefined);
  sink.listening?.(listeners.ports);
  const script = buildScript({
    events,
    filter: o,
    listeners: listeners.owned,
    resetReason: resetReasons.size > 0,
    retransmitErr: events.includes('retrans') && tracepointHasField(root, 'tcp:tcp_retransmit_skb', 'err'),
    sockState: btf,
    egressDropCodes: plan.egressDropCodes,
    dropRxSk: plan.dropRxSk,
  });

  const env = {
    ...process.env,
    __BPFTRACE_NOTIFY_PROBES_ATTACHED: '1',
    BPFTRACE_PERF_RB_PAGES: String(o.perfPages ?? defaultPerfPages()),
    BPFTRACE_MAP_KEYS_MAX: String(o.mapKeys ?? 65_536),
  };
  // Text output, fully buffered: one write per 8 KiB instead of one write (and, with -f json, one
  // flush) per event; the script's interval probe flushes what a quiet host leaves in the buffer.
  const args = ['-B', 'full', '-e', script];
  // setpriv --pdeathsig: bpftrace is killed with us even when we die by SIGKILL, so it never
  // outlives tcplens. Its own process group keeps a terminal's Ctrl-C for us: we stop it in order.
  const setpriv = SEARCH_DIRS.map((d) => join(d, 'setpriv')).find(isExecutable);
  const [cmd, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', bpftrace, ...args]] : [bpftrace, args];
  const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });

  return new Promise<TraceHandle>((resolveStart, rejectStart) => {
    const ctx: ParseContext = {
      monoToEpochMs: o.monoToEpochMs ?? monoToEpochMs(),
      resetReasons,
      dropReasons: plan.dropReasons,
    };
    // Now on the events' clock (CLOCK_MONOTONIC as epoch ms), so that arrival − kernel time is bpftrace's delivery lag.
    const now = () => ctx.monoToEpochMs + Number(process.hrtime.bigint()) / 1e6;
    let stderr = '';
    let pending = '';
    let ready = false;
    let stopping = false;
    let exited = false;
    let lost = 0;
    let missed = 0;
    const order = new ReorderBuffer({ minHoldMs: o.reorderHoldMs });
    const { promise: done, resolve: resolveDone, reject: rejectDone } = Promise.withResolvers<void>();
    done.catch(() => {}); // the owner awaits it; an unawaited rejection must not end the process

    const killNow = () => {
      if (!exited) child.kill('SIGKILL');
    };
    process.on('exit', killNow);
    const startTimer = setTimeout(() => {
      if (!ready) {
        child.kill('SIGKILL');
        rejectStart(
          new UnsupportedPlatformError(
            `bpftrace did not attach its probes within ${(o.startTimeoutMs ?? 60_000) / 1000} s`,
          ),
        );
      }
    }, o.startTimeoutMs ?? 60_000);

    /** The last event read: a line that is no event of its own continues its process name. */
    let last: TraceEvent | undefined;
    /** The line of `text` from start to end (its newline or the text's end). */
    const handleLine = (text: string, start: number, end: number, arrivalMs: number) => {
      // State changes, most lines on a busy host, are read in place: no string or message for each.
      if (isStateChangeAt(text, start)) {
        try {
          order.push((last = named(parseStateChange(text, start, end, ctx))), arrivalMs);
        } catch (err) {
          last = undefined;
          sink.notice?.(`skipped a line of bpftrace output: ${(err as Error).message}`);
        }
        return;
      }
      const line = text.slice(start, end);
      let msg;
      try {
        msg = parseBpftraceLine(line, ctx);
      } catch (err) {
        last = undefined;
        sink.notice?.(`skipped a line of bpftrace output: ${(err as Error).message}`);
        return;
      }
      if (!msg || (msg.kind !== 'event' && msg.kind !== 'text')) last = undefined;
      if (!msg) return;
      if (msg.kind === 'event') order.push((last = named(msg.event)), arrivalMs);
      else if (msg.kind === 'text') {
        // The process name of the event before went on past a newline of its own.
        if (last?.comm != null) last.comm += `\n${msg.text}`;
        else sink.notice?.(`skipped a line of bpftrace output: unexpected '${msg.text.slice(0, 80)}'`);
      } else if (msg.kind === 'lost') {
        lost += msg.events;
        sink.lost?.(msg.events);
      } else if (msg.kind === 'attached') attached();
    };
    // bpftrace's comm is the thread's name: Node 24's main thread says "MainThread". Show the
    // program, as everywhere else in tcplens (one readlink per pid, remembered).
    const names = new Map<number, string>();
    const named = (e: TraceEvent): TraceEvent => {
      if (e.pid === null || e.comm === null || !isThreadName(e.comm)) return e;
      let name = names.get(e.pid);
      if (name === undefined) {
        if (names.size >= 4096) names.clear();
        names.set(e.pid, (name = programName(e.pid, e.comm)));
      }
      e.comm = name;
      return e;
    };
    const releases = releaseOnTimer(order, now, sink);
    const attached = () => {
      if (ready) return;
      ready = true;
      clearTimeout(startTimer);
      resolveStart(handle);
    };

    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const text = pending + chunk;
      const arrivalMs = now();
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        handleLine(text, start, nl, arrivalMs);
        start = nl + 1;
      }
      pending = text.slice(start);
      releases.schedule();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 65_536) stderr += d;
      // bpftrace 0.17 writes the notice to stderr, some versions to stdout: either will do.
      if (!ready && stderr.includes(ATTACHED_LINE)) attached();
    });
    child.on('error', (err) => {
      exited = true;
      clearTimeout(startTimer);
      process.off('exit', killNow);
      const e = new UnsupportedPlatformError(`cannot run ${bpftrace}: ${err.message}`);
      if (!ready) rejectStart(e);
      else rejectDone(e);
    });
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(startTimer);
      process.off('exit', killNow);
      if (pending) handleLine(pending, 0, pending.length, now());
      pending = '';
      releases.drain();
      if (order.late > 0) {
        sink.notice?.(
          `${order.late} events came from bpftrace later than the wait for reordering (at most ${Math.round(order.longestHoldMs)} ms) and are printed out of order`,
        );
      }
      if (!ready) rejectStart(bpftraceError(stderr, code, signal, false));
      else if (stopping) resolveDone();
      else rejectDone(bpftraceError(stderr, code, signal, true));
    });

    const handle: TraceHandle = {
      backend: 'bpftrace',
      // What the reorder buffer assumes (nothing yet to come is older than a hold ago), with a second
      // hold of margin: the hold grows only once a longer lag is seen, and a merge has let out the
      // other source's events by then. Nothing held is given out yet.
      watermarkMs: () => {
        if (exited) return Infinity;
        const oldest = order.oldestMs();
        const assumed = now() - 2 * order.holdMs;
        return oldest === undefined ? assumed : Math.min(assumed, oldest - 0.001);
      },
      lostEvents: () => lost,
      missedEvents: () => (exited ? missed : (missed = recursionMisses(child.pid!))),
      done,
      close: async () => {
        if (!exited) {
          stopping = true;
          missed = recursionMisses(child.pid!);
          // SIGINT: bpftrace detaches, drains its perf buffers to stdout and runs END, then exits.
          child.kill('SIGINT');
          const timer = setTimeout(killNow, 5_000);
          await done.catch(() => {});
          clearTimeout(timer);
        }
        await done.catch(() => {});
      },
    };
  });
}
