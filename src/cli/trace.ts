// `tcplens trace`: live TCP state changes, resets, retransmits, drops and ended connections through eBPF tracepoints, then a summary.
//
// --json: NDJSON on stdout, one object per line, flushed as events arrive:
//   First line: {"time","type":"start","backend":"bpftrace"|"tracefs"|"poll"} (tracefs: state changes
//   alone, read from a tracefs instance without bpftrace).
//   {"time","type":"state"|"reset-sent"|"reset-received"|"retransmit"|"synack-retransmit"|"drop"|"life","pid","comm",
//    "family","saddr","sport","daddr","dport","oldState","newState","ms","sk"}
//   sk: the kernel socket's address in hex (null when there was none), the same on every event of one
//   socket while it lives: events of one connection group by it.
//   drop: "reason" (the kernel's name), "direction":"in"|"out", "where" (kernel function), "noise":true
//   for reasons that say nothing about TCP (printed only with --noise, always counted).
//   life: one per connection that ended, "ms" its whole life, "bytesSent", "bytesReceived" (application bytes).
//   plus "derived":true on a TIME_WAIT inferred from FIN_WAIT2/CLOSING → CLOSE, "sampled":true on
//   every event of the /proc/net/tcp fallback, "reason" on resets sent (Linux 6.10+). pid/comm: the
//   socket's owner when known, else null; ms: time spent in oldState when its start was seen, else null.
//   {"time","type":"lost","events":N} when the kernel dropped events (a full perf or tracefs buffer).
//   Last line: {"type":"summary","backend","durationS","events":{…},"lostEvents","missedEvents","transitions":[{"from","to","count","derived"}],
//               "lifetimes":{"count","p50Ms","p90Ms","p99Ms","maxMs"}|null,"resets":[{"direction","port","reason","count"}],
//               "drops":[{"reason","port","count","noise"}],
//               "retransmits":[{"peer","retransmits","synackRetransmits"}]}
// Remarks (a fallback, a tracefs mount) go to stderr as single lines, never into stdout.

import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseStateName, type TcpState } from '../model/tcp-state.ts';
import { useColor } from '../render/table.ts';
import { DEFAULT_TRACE_EVENTS, TRACE_EVENT_KINDS, type TraceEvent, type TraceEventKind } from '../trace/event.ts';
import { commaList as list, parseInteger, parseMilliseconds, parseSeconds } from './options.ts';
import { clearProgress, out, progress } from './output.ts';

interface TraceCliOptions {
  port?: number[];
  sport?: number[];
  dport?: number[];
  pid?: number[];
  state?: TcpState[];
  events?: TraceEventKind[];
  duration?: number;
  interval: number;
  fallback?: boolean;
  json?: boolean;
  noise?: boolean;
}

const parsePid = (raw: string): number => {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 4_194_304)
    throw new UsageError(`--pid takes a process id, not '${raw}'`);
  return Number(raw);
};

const parseEvent = (raw: string): TraceEventKind => {
  const v = raw.toLowerCase() as TraceEventKind;
  if (!TRACE_EVENT_KINDS.includes(v))
    throw new UsageError(`--events takes ${TRACE_EVENT_KINDS.join(', ')}, not '${raw}'`);
  return v;
};

// A port filter of 0 would match unbound sockets only: never what a user means.
const parseFilterPort = (flag: string) => parseInteger(flag, 1, 65535);

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description(
      "live TCP state changes, resets, retransmits, drops with the kernel's reason and ended connections (eBPF via bpftrace, root), with a summary at the end",
    )
    .option(
      '--port <port>',
      'either end uses this port (repeatable, or a comma list)',
      list('--port', parseFilterPort('--port')),
    )
    .option('--sport <port>', 'the local port is one of these', list('--sport', parseFilterPort('--sport')))
    .option('--dport <port>', 'the remote port is one of these', list('--dport', parseFilterPort('--dport')))
    .option('--pid <pid>', 'sockets owned by this process (owners are learned as below)', list('--pid', parsePid))
    .option(
      '--state <state>',
      'every event in this state: state changes from or to it, resets and retransmits of a socket in it; kernel names (TIME_WAIT, SYN_SENT…) or ss aliases',
      list('--state', parseStateName),
    )
    .option(
      '--events <list>',
      `what to show: ${TRACE_EVENT_KINDS.join(',')} (default: ${DEFAULT_TRACE_EVENTS.join(',')})`,
      list('--events', parseEvent),
    )
    .option(
      '--duration <seconds>',
      'stop this long after the probes are attached (default: until Ctrl-C)',
      parseSeconds('--duration'),
    )
    .option(
      '--interval <ms>',
      'fallback only (ignored, with a notice, when tracing with bpftrace): time between /proc/net/tcp snapshots',
      parseMilliseconds('--interval', { min: 10, max: 60_000 }),
      100,
    )
    .option('--fallback', 'sample /proc/net/tcp instead of tracing (no root or bpftrace needed)')
    .option('--no-fallback', 'fail instead of sampling when eBPF is unavailable (not root, no bpftrace)')
    .option(
      '--noise',
      'also print drops whose reason says nothing about TCP (NOT_SPECIFIED, QUEUE_PURGE…); the summary counts them always',
    )
    .option(
      '--json',
      'NDJSON: a {"type":"start"} line once events are captured, one event per line, a summary object last',
    )
    .addHelpText(
      'after',
      `
Tracepoints: sock:inet_sock_set_state, tcp:tcp_send_reset, tcp:tcp_receive_reset,
tcp:tcp_retransmit_skb, tcp:tcp_retransmit_synack, skb:kfree_skb (drop). Needs root and bpftrace
(apt-get install -y bpftrace); without either it samples /proc/net/tcp (labelled sampled) unless --no-fallback.

drop: TCP packets the kernel dropped, with its own name for the reason (read from the running
kernel: Linux 5.17+ and its BTF), the packet's addresses and, when the kernel found a socket, its
state and owner. life: one line per connection that ended (as tcplife): owner, both ends, its whole
life, bytes sent and received. Every event carries "sk", the kernel socket, to group a connection's.

The kernel never reports TIME_WAIT itself: FIN_WAIT2 (or CLOSING) → CLOSE is where it hands the
connection to a timewait socket, shown as → TIME_WAIT* (derived). pid/comm is the socket's owner as
seen in its own connect/listen/close, or the listener's owner for accepted sockets; '-' until known.
A connect() enters SYN_SENT before the kernel picks its local port: that line shows local port 0.

Examples:
  sudo tcplens trace --port 8080                         every change on port 8080 until Ctrl-C
  sudo tcplens trace --events reset --duration 30        who sends and receives resets, for 30 s
  sudo tcplens trace --state TIME_WAIT --dport 5432      where TIME_WAIT towards a database comes from
  sudo tcplens trace --events drop,reset --port 8080     what the kernel drops and resets on 8080, and why
  sudo tcplens trace --events life --dport 443           each connection to 443 as it ends: duration, bytes
  sudo tcplens trace --json --duration 10 > trace.ndjson
  tcplens trace --fallback --interval 50 --port 8080     without root: sampled every 50 ms`,
    )
    .action(async (o: TraceCliOptions, cmd: Command) => {
      const { startTrace } = await import('../trace/trace.ts');
      const { TraceSummaryBuilder } = await import('../trace/summary.ts');
      const render = await import('../render/trace.ts');
      const { TraceNdjsonWriter } = await import('../render/trace-ndjson.ts');
      const color = useColor();
      const summary = new TraceSummaryBuilder();
      // NDJSON goes straight into bytes (a busy host makes tens of thousands of events a second);
      // the live table, for a person to read, is built as text.
      const ndjson = o.json ? new TraceNdjsonWriter() : undefined;
      let buffered: string[] = [];
      let lostWarned = false;
      // Events can come in before startTrace() has returned: they wait for the header.
      let live = false;
      const write = () => {
        if (!live) return;
        if (ndjson) {
          if (ndjson.size > 0) out(ndjson.take());
        } else if (buffered.length > 0) {
          out(buffered.join(''));
          buffered = [];
        }
      };
      const sink = {
        event(e: TraceEvent) {
          summary.add(e);
          if (e.noise && !o.noise) return;
          if (ndjson) ndjson.event(e);
          else buffered.push(render.traceEventText(e, color));
        },
        flush: write,
        lost(n: number) {
          if (ndjson) ndjson.text(render.lostLine(n));
          else if (!lostWarned) {
            lostWarned = true;
            process.stderr.write(
              `tcplens: events are being lost (the kernel's buffer overflowed); the summary counts them\n`,
            );
          }
        },
        notice(text: string) {
          clearProgress();
          process.stderr.write(`tcplens: ${text}\n`);
        },
        listening(ports: readonly number[]) {
          summary.addListeningPorts(ports);
        },
      };
      // Ctrl-C, SIGTERM or --duration end the trace the same way: stop, drain, summarize. The
      // handlers go in before bpftrace starts and come out after it is closed, so that no signal
      // finds Node's default handler and leaves bpftrace running.
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      // SIGHUP too (the terminal closed, the ssh session dropped): Node's default would exit without
      // its exit handlers, leaving a tracefs instance and its buffers in the kernel.
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      for (const s of signals) process.on(s, stop);
      const unhook = () => {
        for (const s of signals) process.off(s, stop);
      };
      // bpftrace compiles and attaches for a few seconds: say so on a terminal.
      progress('tcplens trace: starting…');
      const handle = await startTrace(
        {
          ports: o.port,
          sports: o.sport,
          dports: o.dport,
          pids: o.pid,
          states: o.state,
          events: o.events,
          intervalMs: o.interval,
          fallback: o.fallback === true ? 'always' : o.fallback === false ? 'never' : 'auto',
        },
        sink,
      )
        .catch((err: unknown) => {
          unhook();
          throw err;
        })
        .finally(clearProgress);
      const started = Date.now();
      if (handle.backend !== 'poll' && cmd.getOptionValueSource('interval') === 'cli') {
        sink.notice(
          '--interval applies only to sampling /proc/net/tcp (the fallback): tracing reports every event as it happens',
        );
      }
      out(
        o.json
          ? render.startLine(handle.backend)
          : render.traceHeader({ sampled: handle.backend === 'poll', intervalMs: o.interval }),
      );
      live = true;
      write();

      const timer = o.duration ? setTimeout(stop, o.duration * 1000) : undefined;
      try {
        await Promise.race([stopped, handle.done.catch(() => {})]);
      } finally {
        clearTimeout(timer);
        await handle.close().finally(unhook);
        write();
      }
      // When bpftrace died on its own, what it saw until then still gets its summary, then the error.
      const failure = await handle.done.then(
        () => undefined,
        (err: unknown) => err,
      );
      const result = summary.result({
        backend: handle.backend,
        ...(handle.backend === 'poll' ? { intervalMs: o.interval } : {}),
        durationS: (Date.now() - started) / 1000,
        lostEvents: handle.lostEvents(),
        missedEvents: handle.missedEvents(),
      });
      out(o.json ? render.summaryLine(result) : '\n' + render.renderTraceSummary(result, color));
      if (failure !== undefined) throw failure;
    });
}
