// `tcplens exporter`: serve this host's TCP picture as Prometheus metrics until Ctrl-C.
//
// --json: one line at start, {"url","host","port","topN","findingsIntervalS","ebpf"}, then {"stopped":true} at the end;
// "ebpf" is {"tracing":true}, or {"tracing":false,"why":"…"} when --ebpf was asked and cannot trace, or null without --ebpf.

import { Option, type Command } from 'commander';
import { commaList, parseInteger, parseListen, parseSeconds } from './options.ts';
import { isLoopbackHost as isLoopback } from '../text/loopback.ts';
import { out } from './output.ts';
import { untilStopSignal } from './stop-signal.ts';

interface ExporterCliOptions {
  listen: { host: string; port: number };
  top: number;
  findingsInterval: number;
  rttInterval: number;
  ebpf?: boolean;
  ebpfPort?: number[];
  json?: boolean;
}

export function registerExporter(program: Command): void {
  program
    .command('exporter')
    .description(
      "Prometheus metrics of this host's TCP: sockets by state, accept queues, TIME_WAIT and ephemeral ports per port, RTT and retransmits per peer, kernel counters, sysctls, doctor's findings",
    )
    .addOption(
      new Option(
        '--listen <host:port>',
        'address to serve /metrics on (loopback unless you say otherwise; 0.0.0.0:9477 for every interface)',
      )
        .argParser(parseListen)
        .default({ host: '127.0.0.1', port: 9477 }, '127.0.0.1:9477'),
    )
    .option(
      '--top <n>',
      'ports, peers and destinations kept per breakdown; the rest is summed as "other"',
      parseInteger('--top', 1, 1000),
      10,
    )
    .option(
      '--findings-interval <seconds>',
      "how often doctor's findings are recomputed (each needs a walk of every process's descriptors); 0 turns them off",
      parseSeconds('--findings-interval', { min: 0, max: 3600 }),
      30,
    )
    .option(
      '--rtt-interval <seconds>',
      'how often per-peer RTT and retransmits are read from tcp_info (a scan of every connection through netlink); 0 turns them off',
      parseSeconds('--rtt-interval', { min: 0, max: 3600 }),
      15,
    )
    .option(
      '--ebpf',
      "also trace drops and resets with the kernel's reasons (root and bpftrace): tcplens_drops_total{reason}, tcplens_resets_total{direction,reason}",
    )
    .option(
      '--ebpf-port <port>',
      'with --ebpf: only drops and resets on these ports (repeatable, or a comma list)',
      commaList('--ebpf-port', parseInteger('--ebpf-port', 1, 65535)),
    )
    .option('--json', 'print where it listens as one JSON line')
    .addHelpText(
      'after',
      `
Endpoints:
  /metrics   Prometheus text format; one sample of /proc per scrape, shared by concurrent scrapes
  /          a page linking to /metrics

Examples:
  tcplens exporter                              http://127.0.0.1:9477/metrics
  tcplens exporter --listen 0.0.0.0:9477        for a Prometheus on another machine
  tcplens exporter --top 20                     keep 20 ports and peers per breakdown
  sudo tcplens exporter --ebpf                  drops and resets by the kernel's reason too
  curl -s 127.0.0.1:9477/metrics | grep tcplens_tcpext_listen_overflows_total

Prometheus configuration and a Grafana dashboard: deploy/prometheus/, deploy/grafana/tcplens.json`,
    )
    .action(async (o: ExporterCliOptions) => {
      const { UsageError } = await import('../errors.ts');
      if (o.ebpfPort && !o.ebpf) throw new UsageError('--ebpf-port narrows --ebpf: add --ebpf');
      const { startExporter } = await import('../observe/exporter-server.ts');
      const notice = (text: string) => process.stderr.write(`tcplens: ${text}\n`);
      const ebpf = o.ebpf
        ? await (await import('./ebpf-option.ts')).startEbpf({ ports: o.ebpfPort }, 'exporter', notice)
        : undefined;
      let exporter;
      try {
        exporter = await startExporter({
          host: o.listen.host,
          port: o.listen.port,
          topN: o.top,
          findingsIntervalMs: Math.round(o.findingsInterval * 1000),
          rttIntervalMs: Math.round(o.rttInterval * 1000),
          reasons: ebpf?.tally,
        });
      } catch (err) {
        await ebpf?.tally?.close();
        throw err;
      }
      const ebpfState = ebpf ? (ebpf.tally ? { tracing: true } : { tracing: false, why: ebpf.why }) : null;
      // Before the address is printed: see untilStopSignal.
      const stopSignal = untilStopSignal();
      if (o.json) {
        out(
          `${JSON.stringify({ url: exporter.url, host: exporter.host, port: exporter.port, topN: o.top, findingsIntervalS: o.findingsInterval, ebpf: ebpfState })}\n`,
        );
      } else {
        const exposed = isLoopback(o.listen.host)
          ? ''
          : ` (bound to ${o.listen.host}: every client that reaches this port can read it)`;
        out(`tcplens exporter serving ${exporter.url}${exposed}\nCtrl-C to stop\n`);
      }
      await stopSignal;
      await Promise.all([exporter.close(), ebpf?.tally?.close()]);
      out(o.json ? `${JSON.stringify({ stopped: true })}\n` : 'stopped\n');
    });
}
