// One picture of the host's TCP state (HostSample): one host scan (netlink, else /proc), the
// counters and the catalog's sysctls. What the exporter scrapes, the dashboard streams and doctor
// projects (doctor-snapshot.ts).

import { hostname } from 'node:os';
import { flattenCounters, readCounters } from '../kernel/counters.ts';
import { readEphemeralRange, type EphemeralRange } from '../kernel/ephemeral-range.ts';
import { readListenBacklogs } from '../kernel/listen-backlog.ts';
import type { TcpRow } from '../kernel/socket-row.ts';
import type { SocketSource } from '../kernel/socket-table.ts';
import { procRootDir } from '../kernel/proc-root.ts';
import { scanProcesses, type SocketOwner } from '../kernel/processes.ts';
import { normalizeSysctlText, readSysctls } from '../kernel/sysctl.ts';
import type { Finding } from '../model/finding.ts';
import type { Family } from '../model/socket.ts';
import { TCP_STATES, stateCode, type TcpState } from '../model/tcp-state.ts';
import type { ConnectionEvidence, DoctorSnapshot, PortCount } from '../analyze/doctor/snapshot.ts';
import { SYSCTL_CATALOG } from '../analyze/sysctl-catalog.ts';
import { compileFilter } from '../analyze/socket-filter.ts';
import { SummaryBuilder, annotateListeners, type DestinationPorts, type Listener } from '../analyze/socket-summary.ts';
import { NetlinkUnavailableError, PermissionError, UsageError } from '../errors.ts';
import { readdirSync, readlinkSync } from 'node:fs';
import { SIDE_CLIENT, SIDE_SERVER, type TimeWaitSide, scanHostSockets } from './scan.ts';
import type { ConnectionWindow } from './connections.ts';
import { type PeerRtt, PeerRttReading } from './peer-rtt.ts';
import { formatPeerKey, peerKey, topOfMap, topPorts, type TopList } from './top-list.ts';

export type { TopList } from './top-list.ts';
export type { PeerRtt } from './peer-rtt.ts';

/** Sockets of one state broken down three ways, each a top-N list with an "other" remainder. */
export interface StateBreakdown {
  /** By remote port: for connections this host opened, the destination's port. */
  byRemotePort: TopList<number>;
  /** By local port: for connections this host accepted, the listening port. */
  byLocalPort: TopList<number>;
  /**
   * By local port, listening ports only (the server side). The rest of byLocalPort is a client's
   * ephemeral ports, which come and go: byLocalPort.total - byListeningPort.total of them.
   */
  byListeningPort: TopList<number>;
  /** By remote address (the port left out). */
  byPeer: TopList<string>;
}

export interface EphemeralSample {
  /** ip_local_port_range. */
  range: { low: number; high: number };
  /** Ports of the range taken out by ip_local_reserved_ports. */
  reservedInRange: number;
  /** Ports a connect() can pick: the range minus the reserved ones. */
  usable: number;
  /** Distinct local ports of the range in use now, towards any destination. */
  portsInUse: number;
  /** The top-N destinations (remote address:port) by local ports held towards each. */
  destinations: DestinationPorts[];
  /** Sockets on ephemeral ports towards destinations outside the top N. */
  otherSockets: number;
  /** Sockets on ephemeral ports towards any destination: the destinations' ports + otherSockets. */
  totalSockets: number;
}

/** How connections end, in the shapes doctor's rules read (top 10 ports each, owners of listening ports). */
export type ClosingSample = Pick<
  DoctorSnapshot['sockets'],
  'timeWaitServerSide' | 'timeWaitClientSide' | 'timeWaitServerTotal' | 'timeWaitClientTotal' | 'closeWait' | 'finWait2'
>;

/** Doctor's findings over a window that ended at `computedAt` (refreshed on a slower cadence than samples). */
export interface SampleFindings {
  /** Epoch ms when the window ended. */
  computedAt: number;
  windowS: number;
  /** Worst first. */
  findings: Finding[];
  rootWouldAdd: string[];
}

export interface HostSample {
  host: string;
  /** Epoch ms when the sample began. */
  takenAt: number;
  /** How long taking it took. */
  durationMs: number;
  topN: number;
  sockets: {
    total: number;
    /** Every state of TCP_STATES, zeros included. */
    byState: Record<TcpState, number>;
    byFamily: Record<Family, number>;
    /** Every state for each family, zeros included. */
    byFamilyState: Record<Family, Record<TcpState, number>>;
    /** Lines of /proc/net/tcp{,6} or netlink messages that made no sense (0 on a sane kernel). */
    malformed: number;
  };
  /** Listening sockets with accept queue now and maximum (null when unknown: /proc read and ss missing) and owner when known. */
  listeners: Listener[];
  timeWait: StateBreakdown;
  established: StateBreakdown;
  /** Absent when ip_local_port_range cannot be read. */
  ephemeral?: EphemeralSample;
  closing: ClosingSample;
  /**
   * Every counter, keyed "Section.Field" for /proc/net/snmp and netstat ("TcpExt.ListenOverflows",
   * "Tcp.CurrEstab") and "sockstat.Line.field" for sockstat{,6} ("sockstat.TCP.tw"): the keys of doctor.
   */
  counters: Record<string, number>;
  /** Lines the counter parsers had to skip. */
  counterProblems: string[];
  /** The catalog's sysctls as the kernel prints them (spaces normalised); undefined when absent. */
  sysctls: Record<string, string | undefined>;
  /** The latest findings, from a sampler only (takeHostSample alone has no window). */
  findings?: SampleFindings;
  /** Where the sockets were read: netlink sock_diag, or /proc/net/tcp{,6}. */
  source: 'netlink' | 'proc';
  /** Why /proc was read although netlink was wanted. */
  fallback?: string;
  /** With a ConnectionWindow in the options (netlink only), from its second reading on: tcp_info over the window. */
  connections?: ConnectionEvidence;
  /**
   * With `peerRtt` in the options: per-peer RTT and retransmits from this sample's scan. A sampler
   * reads them every so often and hands its latest reading (takenAt says when) to the samples between.
   */
  peerRtt?: PeerRtt;
  /** Why there is no per-peer reading (tcp_info cannot be read here), once one was tried. */
  peerRttProblem?: string;
}

export interface SampleOptions {
  /** Entries kept in each top-N list (ports, peers, destinations). Default 10. */
  topN?: number;
  /** Only sockets with this port at either end. */
  port?: number;
  /** Only the sockets of this process (and TIME_WAIT on its listening ports). */
  pid?: number;
  /** Where to read the sockets; 'auto' by default (netlink, else /proc with a reason). */
  source?: SocketSource;
  /** Take a reading of every connection's tcp_info into it (netlink only): its window's evidence lands in `connections`. */
  connections?: ConnectionWindow;
  /** Read every ESTABLISHED connection's tcp_info in the same scan, grouped by peer (top N and the rest; netlink only). */
  peerRtt?: { topN: number };
}

export const DEFAULT_TOP_N = 10;
export const MAX_TOP_N = 1000;

/** Fills in what a scan cannot tell about listeners: their owners, and their maxima when /proc was read. */
export interface ListenerAnnotator {
  annotate(listeners: Listener[]): Promise<void>;
}

/**
 * What listeners need beyond the socket table: the owner (a walk of every /proc/<pid>/fd) and,
 * when /proc was read, the accept-queue maximum (ss, a child process; netlink carries it). Both are
 * kept by inode and asked again only for listeners not seen before, so a steady host pays for
 * neither on each sample.
 */
export class ListenerDetails implements ListenerAnnotator {
  private backlogs = new Map<number, number>();
  private owners = new Map<number, SocketOwner>();
  // Inodes a walk has already looked for: one whose owner stays unknown (another user's process
  // without root, or gone) does not cost a walk per sample; they are tried again every ownerRetryMs.
  private tried = new Set<number>();
  // Likewise for ss: a listener it does not list (gone meanwhile, or ss missing) is asked about once.
  private backlogTried = new Set<number>();
  private triedSince = -Infinity;
  private readonly ownerRetryMs: number;

  constructor(ownerRetryMs = 60_000) {
    this.ownerRetryMs = ownerRetryMs;
  }

  /** `walk` false: owners come only from learnOwners (a caller that walks /proc itself). */
  async annotate(listeners: Listener[], walk = true): Promise<void> {
    const now = performance.now();
    if (now - this.triedSince >= this.ownerRetryMs) {
      this.tried = new Set();
      this.backlogTried = new Set();
      this.triedSince = now;
    }
    if (listeners.some((l) => l.maxQueue === null && !this.backlogs.has(l.inode) && !this.backlogTried.has(l.inode))) {
      // ss lists every listener: its answer replaces the map, which forgets closed ones.
      const fresh = await readListenBacklogs();
      if (fresh) this.backlogs = fresh;
      for (const l of listeners) this.backlogTried.add(l.inode);
    }
    if (walk && listeners.some((l) => !this.owners.has(l.inode) && !this.tried.has(l.inode))) {
      const inodes = new Set(listeners.map((l) => l.inode));
      this.learnOwners(scanProcesses(inodes).byInode);
      for (const i of inodes) this.tried.add(i);
    }
    annotateListeners(listeners, this.backlogs, this.owners);
  }

  /** Owners found by another walk of /proc (doctor's), so that this one is not needed. */
  learnOwners(byInode: Map<number, SocketOwner>): void {
    for (const [inode, owner] of byInode) this.owners.set(inode, owner);
    // Bounded: inodes of listeners long closed would otherwise pile up on a host that churns them.
    if (this.owners.size > 10_000) this.owners = new Map(byInode);
  }
}

const LISTEN = stateCode('LISTEN');
const TIME_WAIT = stateCode('TIME_WAIT');
const ESTABLISHED = stateCode('ESTABLISHED');
const CLOSE_WAIT = stateCode('CLOSE_WAIT');
const FIN_WAIT2 = stateCode('FIN_WAIT2');

// Per-port scratch counts, reused by every sample: the scan is synchronous, so no two scans share them.
const SCRATCH = {
  twLocal: new Uint32Array(65536),
  twRemote: new Uint32Array(65536),
  estLocal: new Uint32Array(65536),
  estRemote: new Uint32Array(65536),
  twServer: new Uint32Array(65536),
  twClient: new Uint32Array(65536),
  closeWait: new Uint32Array(65536),
  listening: new Uint8Array(65536),
  minePorts: new Uint8Array(65536),
};

function zeroStates(): Record<TcpState, number> {
  const out = {} as Record<TcpState, number>;
  for (const s of TCP_STATES) out[s] = 0;
  return out;
}

export { flattenCounters };

function readRange(): EphemeralRange | undefined {
  try {
    return readEphemeralRange();
  } catch {
    return undefined;
  }
}

/** Socket inodes a process holds, from /proc/<pid>/fd. */
export function inodesOf(pid: number): Set<number> {
  const dir = `${procRootDir()}/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--pid ${pid}: no such process`);
    throw new PermissionError(`--pid ${pid}: cannot read ${dir} (another user's process: run as root)`);
  }
  const out = new Set<number>();
  for (const fd of fds) {
    try {
      const t = readlinkSync(`${dir}/${fd}`);
      if (t.startsWith('socket:[')) out.add(Number(t.slice(8, -1)));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/**
 * Which sockets a sample counts: all, or those with a port at either end, or those of a process
 * (and the TIME_WAIT on its listening ports, which no longer belong to any process).
 */
function selection(o: SampleOptions): ((r: TcpRow) => boolean) | undefined {
  if (o.port === undefined && o.pid === undefined) return undefined;
  const byPort = compileFilter({ port: o.port });
  const mine = o.pid === undefined ? undefined : inodesOf(o.pid);
  const minePorts = SCRATCH.minePorts;
  minePorts.fill(0);
  return (r) => {
    if (!byPort(r)) return false;
    if (!mine) return true;
    if (mine.has(r.inode)) {
      if (r.state === LISTEN) minePorts[r.localPort] = 1;
      return true;
    }
    // TIME_WAIT has no inode: count it when it sits on one of the process's listening ports.
    return r.inode === 0 && minePorts[r.localPort] === 1;
  };
}

/**
 * Take one sample of the host: one streaming host scan (scan.ts), the counters, the catalog's
 * sysctls. `details` carries listener maxima and owners between samples (a sampler passes its
 * own); without it each call walks /proc (and asks ss when /proc was read).
 */
export async function takeHostSample(
  options: SampleOptions = {},
  details: ListenerAnnotator = new ListenerDetails(0),
): Promise<HostSample> {
  const topN = options.topN ?? DEFAULT_TOP_N;
  if (!Number.isInteger(topN) || topN < 1 || topN > MAX_TOP_N)
    throw new UsageError(`topN must be a whole number between 1 and ${MAX_TOP_N}, not ${topN}`);
  const takenAt = Date.now();
  const started = performance.now();

  const range = readRange();
  const builder = new SummaryBuilder(range);
  const s = SCRATCH;
  for (const a of [s.twLocal, s.twRemote, s.estLocal, s.estRemote, s.twServer, s.twClient, s.closeWait]) a.fill(0);
  // Index: (family 0|1) * 64 + state code.
  const stateFamily = new Float64Array(128);
  const peers = new Map<number | string, Uint32Array>();
  let lastPeer: number | string | undefined;
  let lastCounts: Uint32Array | undefined;
  let finWait2 = 0;
  let ephemeralSockets = 0;
  const pass = selection(options);
  const window = options.connections;
  let peerReading = options.peerRtt ? new PeerRttReading(options.peerRtt.topN, takenAt) : undefined;
  let peerRttProblem: string | undefined;
  // tcp_info comes only through netlink: a sample read from /proc goes on without it.
  if (peerReading && options.source === 'proc') {
    peerRttProblem = 'per-peer RTT needs tcp_info, which /proc/net/tcp lacks: read with --source netlink or auto';
    peerReading = undefined;
  }
  // Sockets left out by a selection still mark their listening ports: a TIME_WAIT's side is the host's fact.
  const listening = s.listening;

  const visit = (r: TcpRow, side: TimeWaitSide): void => {
    // Per-peer figures are the host's, whatever this sample selects.
    if (peerReading) peerReading.visit(r);
    if (pass && !pass(r)) return;
    const state = r.state;
    stateFamily[(r.family === 'ipv4' ? 0 : 64) + (state < 64 ? state : 0)]!++;
    builder.add(r);
    if (window) window.visit(r);
    const lport = r.localPort;
    if (state === LISTEN) return;
    if (state === TIME_WAIT || state === ESTABLISHED) {
      const tw = state === TIME_WAIT;
      (tw ? s.twLocal : s.estLocal)[lport]!++;
      (tw ? s.twRemote : s.estRemote)[r.remotePort]!++;
      const key = peerKey(r);
      // Neighbouring rows mostly share a peer: skip the map lookup when it is the last one's.
      let c = key === lastPeer ? lastCounts : peers.get(key);
      if (!c) peers.set(key, (c = new Uint32Array(2)));
      lastPeer = key;
      lastCounts = c;
      c[tw ? 0 : 1]!++;
      if (side === SIDE_SERVER) s.twServer[lport]!++;
      else if (side === SIDE_CLIENT) s.twClient[r.remotePort]!++;
    } else if (state === CLOSE_WAIT) {
      s.closeWait[lport]!++;
    } else if (state === FIN_WAIT2) finWait2++;
    // The rule of SummaryBuilder's ephemeral count, kept here only to know the destinations' total.
    if (
      range &&
      r.remotePort !== 0 &&
      lport >= range.low &&
      lport <= range.high &&
      range.reserved[lport] === 0 &&
      listening[lport] === 0
    ) {
      ephemeralSockets++;
    }
  };
  window?.begin();
  const withInfo = (reading: boolean) => ({
    source: options.source,
    info: window !== undefined || reading,
    memory: window !== undefined,
  });
  let scan;
  try {
    scan = scanHostSockets(withInfo(peerReading !== undefined), visit, listening);
  } catch (err) {
    // Refused before any socket was visited (scanSocketTable's rule): the sample is read again without tcp_info.
    if (!peerReading || window || !(err instanceof NetlinkUnavailableError)) throw err;
    peerRttProblem = err.message;
    peerReading = undefined;
    scan = scanHostSockets(withInfo(false), visit, listening);
  }
  const connections = window?.end();
  const malformed = scan.malformed;

  const summary = builder.result(topN);

  // Everything read from the scratch arrays is read now, before the first await: another sample
  // (a second sampler in this process) may scan, and so reuse them, while this one waits.
  const byState = zeroStates();
  const byFamilyState = { ipv4: zeroStates(), ipv6: zeroStates() };
  let total = 0;
  for (let code = 1; code <= TCP_STATES.length; code++) {
    const name = TCP_STATES[code - 1]!;
    byFamilyState.ipv4[name] = stateFamily[code]!;
    byFamilyState.ipv6[name] = stateFamily[64 + code]!;
    byState[name] = stateFamily[code]! + stateFamily[64 + code]!;
  }
  for (let i = 0; i < 128; i++) total += stateFamily[i]!;
  const peerCount = (slot: 0 | 1) => {
    const m = new Map<number | string, number>();
    for (const [k, c] of peers) if (c[slot]! > 0) m.set(k, c[slot]!);
    return topOfMap(m, topN, formatPeerKey);
  };
  const breakdown = (remote: Uint32Array, local: Uint32Array, slot: 0 | 1): StateBreakdown => ({
    byRemotePort: topPorts(remote, topN),
    byLocalPort: topPorts(local, topN),
    // Read after the whole scan: a port's listener may be listed after its connections (tcp6 after tcp).
    byListeningPort: topPorts(local, topN, s.listening),
    byPeer: peerCount(slot),
  });
  const timeWait = breakdown(s.twRemote, s.twLocal, 0);
  const established = breakdown(s.estRemote, s.estLocal, 1);
  const top10 = (list: TopList<number>): PortCount[] => list.top.map(({ key, count }) => ({ port: key, count }));
  const twServer = topPorts(s.twServer, 10);
  const twClient = topPorts(s.twClient, 10);
  const closing: ClosingSample = {
    timeWaitServerSide: top10(twServer),
    timeWaitClientSide: top10(twClient),
    timeWaitServerTotal: twServer.total,
    timeWaitClientTotal: twClient.total,
    closeWait: top10(topPorts(s.closeWait, 10)),
    finWait2,
  };

  await details.annotate(summary.listeners);
  // Server-side TIME_WAIT and CLOSE_WAIT sit on listening ports: name their owners.
  const ownerOf = new Map(summary.listeners.filter((l) => l.pid !== undefined).map((l) => [l.local.port, l]));
  for (const p of [...closing.timeWaitServerSide, ...closing.closeWait]) {
    const l = ownerOf.get(p.port);
    if (l) {
      p.process = l.process;
      p.pid = l.pid;
    }
  }

  const { counters, problems } = readCounters();
  const sysctls: Record<string, string | undefined> = {};
  for (const r of readSysctls(SYSCTL_CATALOG.map((k) => k.name)))
    sysctls[r.name] = r.present ? normalizeSysctlText(r.raw) : undefined;

  const sample: HostSample = {
    host: hostname(),
    takenAt,
    durationMs: 0,
    topN,
    sockets: { total, byState, byFamily: { ...summary.families }, byFamilyState, malformed },
    listeners: summary.listeners,
    timeWait,
    established,
    closing,
    counters: flattenCounters(counters),
    counterProblems: problems,
    sysctls,
    source: scan.source,
  };
  if (scan.fallback) sample.fallback = scan.fallback;
  if (connections) sample.connections = connections;
  if (peerReading) sample.peerRtt = peerReading.result(scan);
  if (peerRttProblem !== undefined) sample.peerRttProblem = peerRttProblem;
  if (summary.ephemeral) {
    const e = summary.ephemeral;
    const shown = e.destinations.reduce((x, d) => x + d.ports, 0);
    sample.ephemeral = {
      range: e.range,
      reservedInRange: e.reservedInRange,
      usable: e.usable,
      portsInUse: e.portsInUse,
      destinations: e.destinations,
      otherSockets: ephemeralSockets - shown,
      totalSockets: ephemeralSockets,
    };
  }
  sample.durationMs = performance.now() - started;
  return sample;
}
