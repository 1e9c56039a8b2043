// `tcplens doctor`: one diagnosis of this host's TCP connection health, with evidence and fixes.
//
// --json: {"host","kernel","durationS","root","findings":[{"id","severity":"critical"|"warning"|"info"|"ok",
//          "title","evidence":[…],"mechanism","fix":[…]}],"rootWouldAdd":[…]}, findings worst first.
// --trace SECONDS (root and bpftrace): the window is traced too; findings gain the kernel's reasons
// for drops and resets as evidence, and rules of their own (abort-on-close, drops-with-reasons).
// Exit 3 when --fail-on is given and a finding reaches that severity; otherwise 0.

import type { Command } from 'commander';
import { SOCKET_SOURCES, type SocketSource } from '../kernel/socket-table.ts';
import { parseChoice, parseInteger, parsePort, parseSeconds } from './options.ts';
import { clearProgress, out, progress } from './output.ts';
import { renderJson } from '../text/json.ts';
import { useColor } from '../render/table.ts';

interface DoctorOptions {
  duration: number;
  port?: number;
  pid?: number;
  json?: boolean;
  markdown?: boolean;
  failOn?: 'warning' | 'critical';
  trace?: number;
  source?: SocketSource;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description("diagnose this host's TCP connection health: ranked findings with evidence, mechanism and fix")
    .option(
      '--duration <seconds>',
      'window over which counters are compared',
      parseSeconds('--duration', { min: 0.1, max: 600 }),
      3,
    )
    .option('--port <port>', 'only sockets with this port at either end', parsePort('--port'))
    .option(
      '--pid <pid>',
      "only this process's sockets (and TIME_WAIT on its listening ports)",
      parseInteger('--pid', 1, 2 ** 22),
    )
    .option(
      '--trace <seconds>',
      "a window of this long, traced too (root, bpftrace): the kernel's reasons for drops and resets, with ports and owners",
      parseSeconds('--trace', { min: 0.1, max: 600 }),
    )
    .option(
      '--source <source>',
      `where to read sockets: ${SOCKET_SOURCES.join('|')} (auto: netlink, else /proc; the tcp_info rules need netlink)`,
      parseChoice('--source', SOCKET_SOURCES),
    )
    .option('--json', 'machine-readable findings')
    .option('--markdown', 'findings as Markdown (for a ticket or a CI summary)')
    .option(
      '--fail-on <severity>',
      'exit 3 when a finding is at least warning|critical',
      parseChoice('--fail-on', ['warning', 'critical'] as const),
    )
    .addHelpText(
      'after',
      `
Examples:
  tcplens doctor                       3 s window, every rule
  tcplens doctor --port 8080           focus on one service
  sudo tcplens doctor --trace 10       10 s window, with the reasons of drops and resets
  tcplens doctor --fail-on critical    for CI and cron: exit 3 on a critical finding
  tcplens doctor --json | jq '.findings[].id'`,
    )
    .action(async (o: DoctorOptions) => {
      const { collectDoctorSnapshot } = await import('../host/doctor-snapshot.ts');
      const { diagnose } = await import('../analyze/doctor/index.ts');
      const { renderDoctor, renderDoctorMarkdown } = await import('../render/doctor.ts');
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once('SIGINT', onSigint);
      const ticker = setInterval(() => progress('watching the kernel…'), 250);
      let snapshot;
      const rootWouldAdd: string[] = [];
      let tracer: import('../trace/doctor-evidence.ts').TraceEvidenceHandle | undefined;
      const notice = (text: string) => {
        clearProgress();
        process.stderr.write(`tcplens: ${text}\n`);
      };
      if (o.trace !== undefined) {
        const { TcplensError } = await import('../errors.ts');
        if (process.getuid?.() !== 0) {
          rootWouldAdd.push(
            "with --trace as root: the kernel's reasons for drops and resets in the window, with ports and owners (needs bpftrace)",
          );
        } else {
          progress('tcplens doctor: starting the trace (bpftrace compiles its probes)…');
          const { startTraceEvidence } = await import('../trace/doctor-evidence.ts');
          try {
            tracer = await startTraceEvidence({ port: o.port, pid: o.pid }, notice);
            notice(`tracing drops and resets for ${o.trace} s`);
          } catch (err) {
            if (!(err instanceof TcplensError)) throw err;
            notice(`--trace: ${err.message}; diagnosing without it`);
          }
        }
      }
      const fromMs = Date.now();
      try {
        snapshot = await collectDoctorSnapshot({
          durationS: o.trace ?? o.duration,
          port: o.port,
          pid: o.pid,
          source: o.source,
          signal: controller.signal,
          onNote: (text) => notice(`note: ${text}`),
        });
        if (tracer) snapshot.trace = await tracer.stop(fromMs, Date.now());
        snapshot.rootWouldAdd.push(...rootWouldAdd);
      } finally {
        if (tracer && !snapshot?.trace) await tracer.stop(0, 0);
        clearInterval(ticker);
        clearProgress();
        process.removeListener('SIGINT', onSigint);
      }
      const report = {
        host: snapshot.host,
        kernel: snapshot.kernel,
        durationS: snapshot.durationS,
        root: snapshot.root,
        findings: diagnose(snapshot),
        rootWouldAdd: snapshot.rootWouldAdd,
      };
      if (o.json) out(renderJson(report));
      else if (o.markdown) out(renderDoctorMarkdown(report));
      else out(renderDoctor(report, useColor()));
      if (o.failOn) {
        const bar = o.failOn === 'critical' ? ['critical'] : ['critical', 'warning'];
        if (report.findings.some((f) => bar.includes(f.severity))) process.exitCode = 3;
      }
    });
}
