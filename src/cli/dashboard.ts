// `tcplens dashboard`: a live page of this host's TCP state, served on 127.0.0.1 unless told otherwise.
//
// --json prints one line when listening: {"url","host","port","allowedHosts":[…]}.

import { spawn } from 'node:child_process';
import { Option, type Command } from 'commander';
import { collect, commaList, parseInteger, parseListen, parseSeconds } from './options.ts';
import { out } from './output.ts';
import { untilStopSignal } from './stop-signal.ts';

interface DashboardCliOptions {
  listen: { host: string; port: number };
  open?: boolean;
  allowHost?: string[];
  interval: number;
  top: number;
  ebpf?: boolean;
  ebpfPort?: number[];
  json?: boolean;
}

/** Open the page in the user's browser: $BROWSER, else the desktop's opener. */
function openBrowser(url: string): Promise<string | undefined> {
  const opener = process.env.BROWSER
    ? { cmd: process.env.BROWSER, args: [url] }
    : process.platform === 'darwin'
      ? { cmd: 'open', args: [url] }
      : process.platform === 'win32'
        ? { cmd: 'cmd', args: ['/c', 'start', '', url] }
        : { cmd: 'xdg-open', args: [url] };
  return new Promise((resolve) => {
    const child = spawn(opener.cmd, opener.args, { stdio: 'ignore', detached: true });
    child.once('error', (err: NodeJS.ErrnoException) =>
      resolve(
        `cannot open a browser (${opener.cmd}: ${err.code === 'ENOENT' ? 'not installed' : err.message}); open ${url} yourself`,
      ),
    );
    child.once('spawn', () => {
      child.unref();
      resolve(undefined);
    });
  });
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description(
      "a live web page of this host: sockets by state, TIME_WAIT and ports, counter rates, listen queues, doctor's findings, and a viewer for bench results",
    )
    .addOption(
      new Option(
        '--listen <address:port>',
        'where to serve the page (loopback by default: the page shows every connection of this host)',
      )
        .argParser(parseListen)
        .default({ host: '127.0.0.1', port: 9470 }, '127.0.0.1:9470'),
    )
    .option('--open', 'open the page in a browser ($BROWSER, or xdg-open)')
    .option(
      '--allow-host <name>',
      'another Host name to answer, as a reverse proxy sends it (repeatable); others get 403',
      collect(String),
    )
    .option('--interval <seconds>', 'how often to sample', parseSeconds('--interval', { min: 0.2, max: 60 }), 1)
    .option('--top <n>', 'entries in each list of ports, peers and destinations', parseInteger('--top', 1, 1000), 10)
    .option(
      '--ebpf',
      "also trace drops and resets with the kernel's reasons (root and bpftrace): a chart of reasons over time",
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
The page: sockets by state, TIME_WAIT and ephemeral ports, counter rates (listen overflows, SYN
cookies, resets, retransmits) every second; listening sockets with their accept queues; top ports
and peers; doctor's findings every 10 s; a viewer for tcplens bench --json files. Nothing on it
changes the host. Requests whose Host header is not the bound address are refused (DNS rebinding),
and so are requests from pages of other sites (Origin). Bench files are taken up to 512 MiB, their
per-second histograms set aside; see docs/commands.md for the other limits.

Examples:
  tcplens dashboard                              http://127.0.0.1:9470/
  tcplens dashboard --listen 127.0.0.1:8000 --open
  sudo tcplens dashboard --ebpf                  with drops and resets by the kernel's reason
  ssh -L 9470:127.0.0.1:9470 server              then open http://localhost:9470/ here`,
    )
    .action(async (o: DashboardCliOptions) => {
      const { UsageError } = await import('../errors.ts');
      if (o.ebpfPort && !o.ebpf) throw new UsageError('--ebpf-port narrows --ebpf: add --ebpf');
      const { startDashboard } = await import('../observe/dashboard.ts');
      const notice = (text: string) => process.stderr.write(`tcplens: ${text}\n`);
      const ebpf = o.ebpf
        ? await (await import('./ebpf-option.ts')).startEbpf({ ports: o.ebpfPort }, 'dashboard', notice)
        : undefined;
      let dashboard;
      try {
        dashboard = await startDashboard({
          host: o.listen.host,
          port: o.listen.port,
          allowHosts: o.allowHost,
          intervalMs: o.interval * 1000,
          topN: o.top,
          ebpf: ebpf && { reasons: ebpf.tally, why: ebpf.why },
        });
      } catch (err) {
        await ebpf?.tally?.close();
        throw err;
      }
      const { isLoopback } = await import('../observe/dashboard-guard.ts');
      // Before the address is printed: see untilStopSignal.
      const stopSignal = untilStopSignal();
      if (o.json) {
        out(
          JSON.stringify({
            url: dashboard.url,
            host: dashboard.host,
            port: dashboard.port,
            allowedHosts: dashboard.allowedHosts,
          }) + '\n',
        );
      } else {
        out(`tcplens dashboard on ${dashboard.url}\n`);
        if (!isLoopback(dashboard.host)) {
          out(
            `  warning: bound to ${dashboard.host}: anyone who can reach it sees this host's connections (there is no login)\n`,
          );
          out(`  answers Host: ${dashboard.allowedHosts.join(', ')}\n`);
        }
        out('Ctrl-C to stop\n');
      }
      if (o.open) {
        const problem = await openBrowser(dashboard.url);
        if (problem) process.stderr.write(`tcplens: ${problem}\n`);
      }
      await stopSignal;
      await Promise.all([dashboard.close(), ebpf?.tally?.close()]);
    });
}
