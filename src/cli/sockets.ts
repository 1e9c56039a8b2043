// `tcplens sockets`: every TCP socket (netlink sock_diag, or /proc/net/tcp{,6}), filtered, listed, grouped or summarised.
//
// --json schema:
//   {"source": "netlink"|"proc", "fallback"? (why /proc was read when netlink was not refused by choice),
//    "summary": {"total", "families": {"ipv4","ipv6"}, "byState": {STATE: N, …every kernel state},
//                "timeWaitShare", "listeners": [{"family","local":{"address","port"},"queue","maxQueue","fill","inode","uid","pid"?,"process"?}],
//                "ephemeral"? (with --summary): {"range":{"low","high"},"reservedInRange","usable","portsInUse",
//                               "destinations":[{"remote":{"address","port"},"ports","timeWait","share"}]}},
//    "sockets"? (unless --summary or --by): [{"family","state","local","remote","txQueue","rxQueue","timer","timerExpiresMs",
//                 "retransmits","uid","timeout","inode","pid"?,"process"?,"acceptQueueMax"? (LISTEN only; null if unknown),
//                 "info"? (with -i, sockets that have it): {"rttMs","rttVarMs","minRttMs","rtoMs","cwnd","ssthresh","mss",
//                    "retransmits","totalRetrans","lost","unacked","bytesSent","bytesAcked","bytesReceived","bytesRetrans",
//                    "segsOut","segsIn","notsentBytes","deliveryRateBps","pacingRateBps","busyMs","rwndLimitedMs",
//                    "sndbufLimitedMs","lastSendMs","lastRecvMs","lastAckMs","sndWnd","rcvWnd","rcvSpace","congestion",
//                    "skmem"? (with -m): {"rmemAlloc","rcvBuf","wmemAlloc","sndBuf","fwdAlloc","wmemQueued","optMem","backlog","drops"}}}],
//    "groups"? (with --by): [{"key","count","rttMedianMs"?,"rttP99Ms"?,"totalRetrans"? (with -i)}]}
// Counts cover only the sockets that pass the filters.

import type { Command } from 'commander';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { GROUP_KEYS, SORT_KEYS, type GroupKey, type SocketQuery, type SortKey } from '../analyze/socket-query.ts';
import { querySockets } from '../host/socket-query.ts';
import { SOCKET_SOURCES, type SocketSource } from '../kernel/socket-table.ts';
import { parsePeer } from '../analyze/socket-filter.ts';
import type { TcpState } from '../model/tcp-state.ts';
import { parseStateName } from '../model/tcp-state.ts';
import { renderJson, writeJsonWithList } from '../text/json.ts';
import { renderGroups, renderSummary, reportNotes } from '../render/sockets.ts';
import { SocketTable } from '../render/socket-table.ts';
import { useColor } from '../render/table.ts';
import { parseChoice, parseInteger, parsePort, parseSeconds } from './options.ts';
import { outSync as out } from './output.ts';
import { setTimeout as sleep } from 'node:timers/promises';

interface SocketsOptions {
  state?: TcpState[];
  port?: number;
  sport?: number;
  dport?: number;
  peer?: string;
  ipv4?: boolean;
  ipv6?: boolean;
  listening?: boolean;
  process?: boolean;
  by?: GroupKey;
  top?: number;
  summary?: boolean;
  extended?: boolean;
  watch?: number;
  json?: boolean;
  source?: SocketSource;
  info?: boolean;
  memory?: boolean;
  sort?: SortKey;
}

const collectStates = (raw: string, previous: TcpState[] | undefined): TcpState[] => [
  ...(previous ?? []),
  ...raw.split(',').filter(Boolean).map(parseStateName),
];

/**
 * The options of `tcplens sockets`: [flags, description, parser?] as commander takes them. Both
 * commander and the light parser below read this one table.
 */
const OPTIONS: [string, string, ((value: string, previous: never) => unknown)?][] = [
  [
    '-s, --state <states>',
    'only these states, comma-separated or repeated (TIME_WAIT, time-wait, estab, …)',
    collectStates,
  ],
  ['--port <port>', 'either end has this port', parsePort('--port')],
  ['--sport <port>', 'the local port', parsePort('--sport')],
  ['--dport <port>', 'the remote port', parsePort('--dport')],
  ['--peer <addr>', 'the remote address, optionally with :port ([v6]:port for IPv6)'],
  ['-4, --ipv4', 'IPv4 sockets only (/proc/net/tcp)'],
  ['-6, --ipv6', 'IPv6 sockets only (/proc/net/tcp6, including IPv4-mapped)'],
  ['-l, --listening', 'listening sockets only (same as --state listen)'],
  ['-p, --process', 'show the owning process (pid and command) of each socket'],
  ['--by <key>', `count sockets by ${GROUP_KEYS.join('|')}, most first`, parseChoice('--by', GROUP_KEYS)],
  ['--top <n>', 'at most N sockets, groups or destinations', parseInteger('--top', 1, 10_000_000)],
  ['--summary', 'counts by state, TIME_WAIT share, listeners with accept-queue fill, ephemeral ports per destination'],
  ['-e, --extended', 'also show timer, expiry, retransmits, uid and inode'],
  [
    '-i, --info',
    'per connection tcp_info (RTT, cwnd, retransmits, delivery rate, limited time) and congestion control; with --by, RTT p50/p99 and retransmits per group',
  ],
  ['-m, --memory', 'per connection socket memory (skmem: receive/send buffers, queued, drops)'],
  ['--sort <key>', `worst first: ${SORT_KEYS.join('|')}`, parseChoice('--sort', SORT_KEYS)],
  [
    '--source <source>',
    `where to read sockets: ${SOCKET_SOURCES.join('|')} (auto: netlink, else /proc with a note)`,
    parseChoice('--source', SOCKET_SOURCES),
  ],
  ['-w, --watch <seconds>', 'refresh every N seconds until Ctrl-C', parseSeconds('--watch', { min: 0.1 })],
  ['--json', 'machine-readable output (schema: docs/json-schemas.md)'],
];

export function registerSockets(program: Command): void {
  const cmd = program.command('sockets');
  for (const [flags, description, parse] of OPTIONS)
    cmd.option(flags, description, parse as (value: string, previous: unknown) => unknown);
  cmd
    .description(
      'every TCP socket (IPv4 and IPv6): filter, group, count, and summarise with accept queues and ephemeral ports',
    )
    .addHelpText(
      'after',
      `
Examples:
  tcplens sockets --summary                 counts by state, listeners, ephemeral ports per destination
  tcplens sockets --state time-wait --by peer --top 10
                                            who holds TIME_WAIT sockets (the usual ss | awk | sort | uniq -c)
  tcplens sockets -l                        listening sockets with accept queue and its maximum
  tcplens sockets --port 8080 --by state    the life of connections on one port
  tcplens sockets --state close-wait -p     CLOSE_WAIT sockets and the process that never closes them
  tcplens sockets -i --state estab --sort rtt --top 20
                                            the slowest connections, with cwnd, retransmits and limits
  tcplens sockets -i --by peer              RTT p50/p99 and retransmits per peer
  tcplens sockets --summary --watch 1       refresh every second
  tcplens sockets --json | jq '.summary.byState'`,
    )
    .action(runSockets);
}

/**
 * Runs `tcplens sockets ARGS` without commander when the arguments are plain options of the table
 * above, parsed by node:util's parseArgs and each option's own parser; returns false, having done
 * nothing, for anything else (help, an unknown or ambiguous option, a value a parser refuses), which
 * commander then parses with its own messages. Loading commander (and the node:child_process it
 * loads) is a large share of a whole `tcplens sockets` run.
 */
export async function runSocketsFast(args: string[]): Promise<boolean> {
  const opts = parseSocketsFast(args);
  if (!opts) return false;
  await runSockets(opts);
  return true;
}

/** The options as commander would hand them to the action, or undefined where commander must decide. */
export function parseSocketsFast(args: string[]): SocketsOptions | undefined {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  const specs = OPTIONS.map(([flags, , parse]) => {
    const m = /^(?:-(\w), )?--([a-z0-9-]+)( <\w+>)?$/.exec(flags);
    if (!m) throw new Error(`sockets: option flags not understood: ${flags}`);
    const long = m[2]!;
    const takesValue = m[3] !== undefined;
    config[long] = { type: takesValue ? 'string' : 'boolean', multiple: true, ...(m[1] ? { short: m[1] } : {}) };
    return { long, key: long.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), takesValue, parse };
  });
  const opts: Record<string, unknown> = {};
  try {
    const { values } = parseArgs({ args, options: config, strict: true, allowPositionals: false });
    for (const spec of specs) {
      const given = (values as Record<string, (string | boolean)[] | undefined>)[spec.long];
      if (!given) continue;
      let value: unknown = spec.takesValue ? undefined : true;
      // As commander does: each occurrence goes through the parser with the value so far.
      if (spec.takesValue)
        for (const raw of given as string[]) value = spec.parse ? spec.parse(raw, value as never) : raw;
      opts[spec.key] = value;
    }
  } catch {
    return undefined;
  }
  return opts as SocketsOptions;
}

/** A chunk to stdout; done with its bytes once written (they were, unless the stream queued them). */
function writeChunk(chunk: Uint8Array): boolean {
  out(chunk);
  return process.stdout.writableLength === 0;
}

async function runSockets(opts: SocketsOptions): Promise<void> {
  if (opts.peer !== undefined) parsePeer(opts.peer); // reject a bad address before reading anything
  const states = [...(opts.state ?? []), ...(opts.listening ? (['LISTEN'] as TcpState[]) : [])];
  const query: SocketQuery = {
    filter: {
      states: states.length ? states : undefined,
      port: opts.port,
      sport: opts.sport,
      dport: opts.dport,
      peer: opts.peer,
    },
    processes: opts.process,
    by: opts.by,
    summaryOnly: opts.summary,
    top: opts.top,
    families: opts.ipv4 && !opts.ipv6 ? ['ipv4'] : opts.ipv6 && !opts.ipv4 ? ['ipv6'] : ['ipv4', 'ipv6'],
    source: opts.source,
    // Sorting by RTT or retransmits needs tcp_info.
    info: opts.info || opts.memory || opts.sort === 'rtt' || opts.sort === 'retrans',
    memory: opts.memory,
    sort: opts.sort,
  };
  const render = {
    color: useColor(),
    extended: opts.extended,
    processes: opts.process,
    info: query.info,
    memory: opts.memory,
  };
  const once = async () => {
    // A text listing is formatted as the sockets are read, into bytes, and laid out at the end.
    const table =
      !opts.json && !opts.summary && !opts.by
        ? new SocketTable({ ...render, sort: opts.sort, top: opts.top })
        : undefined;
    // JSON is rendered from columns (no object per socket) as a single document, written socket by
    // socket; only a --watch line of JSON needs the objects all at once.
    const report = await querySockets({ ...query, columns: !(opts.json && opts.watch) }, table);
    if (report.fallback) {
      // Said once: later refreshes read /proc directly.
      process.stderr.write(`tcplens: note: reading /proc/net/tcp instead of netlink: ${report.fallback}\n`);
      query.source = 'proc';
    }
    for (const note of reportNotes(report)) process.stderr.write(`tcplens: note: ${note}\n`);
    if (opts.json && report.listing) {
      const { listing, ...head } = report;
      writeJsonWithList(head, 'sockets', listing.order.length, (k) => listing.socket(listing.order[k]!), out);
      return '';
    }
    if (opts.json) return opts.watch ? JSON.stringify(report) + '\n' : renderJson(report);
    if (report.groups) return renderGroups(opts.by ?? '', report.groups, report.summary.total);
    // Once, a long listing goes out in chunks as it is laid out (a --watch refresh is written whole).
    if (table) return table.render(opts.watch ? undefined : writeChunk);
    return renderSummary(report.summary, render);
  };
  if (!opts.watch) {
    const rendered = await once();
    if (rendered.length > 0) out(rendered);
    return;
  }
  const tty = process.stdout.isTTY && !opts.json;
  for (;;) {
    const rendered = await once();
    const text = typeof rendered === 'string' ? rendered : Buffer.from(rendered).toString('utf8');
    if (tty) out(`\x1b[H\x1b[2J${new Date().toLocaleTimeString()}  every ${opts.watch}s, Ctrl-C to stop\n\n${text}`);
    else out(opts.json ? text : `--- ${new Date().toISOString()}\n${text}`);
    await sleep(opts.watch * 1000);
  }
}
