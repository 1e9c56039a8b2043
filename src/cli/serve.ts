// `tcplens serve`: a target server with knobs — delays, sizes, statuses, closes, resets, stalls —
// hardened timeouts, SO_REUSEPORT workers, TLS, and the debug endpoints.
//
// --json prints one line at start, {"url","host","port","workers","mode","tls","debug","settings":[{"name","value","reason"}],"warnings":[]},
// and one at shutdown, {"shutdown":{"closedIdle","drained","destroyed","durationMs","timedOut"}}.

import { isIP } from 'node:net';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseInteger, parsePort, parseSeconds } from './options.ts';
import { isLoopbackHost as isLoopback } from '../text/loopback.ts';
import { out } from './output.ts';
import { formatHostPort } from '../text/host-port.ts';
import { untilStopSignal } from './stop-signal.ts';

interface ServeCliOptions {
  host: string;
  port: number;
  backlog: number;
  headersTimeout?: number;
  requestTimeout?: number;
  keepaliveTimeout?: number;
  maxRequestsPerSocket?: number;
  workers: number;
  reusePort?: boolean;
  tls?: boolean;
  cert?: string;
  key?: string;
  debug: boolean;
  debugRemote?: boolean;
  shutdownDeadline: number;
  json?: boolean;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'a target server with knobs (delays, sizes, statuses, close, reset, stall), hardened timeouts and debug endpoints',
    )
    .option('--host <addr>', 'address to bind (loopback unless you say otherwise)', '127.0.0.1')
    .option('--port <port>', 'port to bind (0: any free port)', parsePort('--port'), 8080)
    .option(
      '--backlog <n>',
      'listen backlog (the kernel caps it at net.core.somaxconn)',
      parseInteger('--backlog', 1, 1 << 20),
      511,
    )
    .option(
      '--headers-timeout <seconds>',
      'time for a client to send its request head (default 10 s)',
      parseSeconds('--headers-timeout', { min: 0.001 }),
    )
    .option(
      '--request-timeout <seconds>',
      'time for a whole request (default 30 s)',
      parseSeconds('--request-timeout', { min: 0.001 }),
    )
    .option(
      '--keepalive-timeout <seconds>',
      'idle keep-alive connections close after this (default 5 s)',
      parseSeconds('--keepalive-timeout', { min: 0.001 }),
    )
    .option(
      '--max-requests-per-socket <n>',
      'close a connection after n requests (0: unlimited; default 1000)',
      parseInteger('--max-requests-per-socket', 0, 1e9),
    )
    .option(
      '--workers <n>',
      'worker threads (processes with node:cluster where SO_REUSEPORT is missing)',
      parseInteger('--workers', 1, 256),
      1,
    )
    .option('--reuse-port', 'each worker binds the port itself with SO_REUSEPORT and the kernel spreads connections')
    .option('--tls', 'serve https with a self-signed certificate made at start')
    .option('--cert <file>', 'serve https with this certificate (PEM; reloaded when the file changes)')
    .option('--key <file>', 'the private key for --cert (PEM)')
    .option('--no-debug', 'do not mount /debug/* and /metrics')
    .option('--debug-remote', 'let non-loopback clients reach the debug endpoints')
    .option(
      '--shutdown-deadline <seconds>',
      'on Ctrl-C, wait this long for requests in flight',
      parseSeconds('--shutdown-deadline', { min: 0 }),
      10,
    )
    .option('--json', 'one JSON line at start and one at shutdown')
    .addHelpText(
      'after',
      `
Routes:
  /                 hello world
  /delay/:ms        answer after ms milliseconds
  /bytes/:n         a body of n bytes
  /status/:code     this status code (200-599)
  /close            answer with Connection: close
  /reset            part of a response, then RST
  /stall            read the request, never answer
  /debug            connections by state, event loop, handles, CPU profile, heap snapshot; /metrics

Examples:
  tcplens serve                                   http://127.0.0.1:8080
  tcplens serve --port 0 --keepalive-timeout 1    a short keep-alive, to reproduce the idle-close race
  tcplens serve --workers 2 --reuse-port          two listening sockets on one port (see: tcplens sockets -l)
  tcplens serve --tls                             https with a self-signed certificate`,
    )
    .action(async (o: ServeCliOptions) => {
      if (isIP(o.host) === 0 && o.host !== 'localhost')
        throw new UsageError(`--host takes an IP address, not '${o.host}'`);
      if ((o.cert === undefined) !== (o.key === undefined)) throw new UsageError('--cert and --key go together');
      if (o.tls && o.cert) throw new UsageError('give --tls (self-signed) or --cert/--key, not both');
      const settings = {
        headersTimeoutMs: o.headersTimeout === undefined ? undefined : o.headersTimeout * 1000,
        requestTimeoutMs: o.requestTimeout === undefined ? undefined : o.requestTimeout * 1000,
        keepAliveTimeoutMs: o.keepaliveTimeout === undefined ? undefined : o.keepaliveTimeout * 1000,
        maxRequestsPerSocket: o.maxRequestsPerSocket,
        debug: o.debug,
        debugRemote: o.debugRemote,
        tls: o.tls ? ({ selfSigned: true } as const) : o.cert ? { certFile: o.cert, keyFile: o.key! } : undefined,
      };
      const { hardenedSettings } = await import('../serve/harden.ts');
      const hardening = hardenedSettings(settings);
      let port: number;
      let mode: 'single' | 'reuseport' | 'cluster' = 'single';
      let stop: () => Promise<unknown>;
      if (o.workers > 1) {
        const { startWorkers } = await import('../serve/workers.ts');
        const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
        const handle = await startWorkers({
          workers: o.workers,
          module: new URL(`../serve/serve${ext}`, import.meta.url),
          port: o.port,
          host: o.host,
          backlog: o.backlog,
          reusePort: Boolean(o.reusePort),
          data: settings,
        }).catch((err: Error) => {
          throw new UsageError(`cannot listen on ${o.host}:${o.port}: ${err.message}`);
        });
        port = handle.port;
        mode = handle.mode;
        stop = () => handle.close(o.shutdownDeadline * 1000);
      } else {
        const { createServeServer } = await import('../serve/serve.ts');
        const { gracefulShutdown } = await import('../serve/graceful.ts');
        const { listenOrExplain } = await import('../http/listen.ts');
        const { server, tls } = await createServeServer(settings);
        // Certificates reload when their files change; SIGHUP asks for it now, as daemons do.
        if (tls) process.on('SIGHUP', () => void tls.reload());
        port = await listenOrExplain(server, o.host, o.port, o.backlog);
        stop = () => gracefulShutdown(server, { deadlineMs: o.shutdownDeadline * 1000 });
      }
      const url = `${settings.tls ? 'https' : 'http'}://${formatHostPort(o.host, port)}/`;
      // Before the address is printed: see untilStopSignal.
      const stopSignal = untilStopSignal();
      if (o.json) {
        out(
          JSON.stringify({
            url,
            host: o.host,
            port,
            workers: o.workers,
            mode,
            tls: Boolean(settings.tls),
            debug: o.debug,
            settings: hardening.settings,
            warnings: hardening.warnings,
          }) + '\n',
        );
      } else {
        const workers =
          o.workers > 1
            ? `, ${o.workers} workers (${mode === 'reuseport' ? 'SO_REUSEPORT' : 'node:cluster: SO_REUSEPORT is not available here'})`
            : '';
        out(`tcplens serve listening on ${url}${workers}\n`);
        for (const s of hardening.settings) out(`  ${s.name.padEnd(28)} ${String(s.value).padStart(6)}  ${s.reason}\n`);
        for (const w of hardening.warnings) out(`  warning: ${w}\n`);
        if (o.debug)
          out(
            `  debug endpoints: ${url}debug  metrics: ${url}metrics${isLoopback(o.host) || o.debugRemote ? '' : ' (loopback clients only; --debug-remote opens them)'}\n`,
          );
        out('Ctrl-C to stop (gracefully)\n');
      }
      await stopSignal;
      const result = await stop();
      if (o.json) out(JSON.stringify({ shutdown: result ?? null }) + '\n');
      else if (result && typeof result === 'object' && 'drained' in result) {
        const r = result as { closedIdle: number; drained: number; destroyed: number; durationMs: number };
        out(
          `\nstopped in ${r.durationMs} ms: ${r.closedIdle} idle closed, ${r.drained} drained, ${r.destroyed} destroyed at the deadline\n`,
        );
      } else out('\nstopped\n');
    });
}
