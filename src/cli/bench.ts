// `tcplens bench`: an HTTP/1.1 load generator that also reports what the load did to the kernel.
//
// --json schema (one run):
//   {"tool":"tcplens","version":1,"target","mode":"keepalive"|"close","method","connections","pipelining","workers",
//    "rate"?,"durationS","warmupS"?,
//    "requests":{"total","ok","failed","perSecond"},"bytes":{"read","perSecond"},
//    "latencyMs":{"p50","p75","p90","p99","p999","p9999","max","min","mean","stdev"},"connectMs"?:{…},"tlsMs"?:{…},
//    "connectionsOpened","newConnectionsPerSecond","connectionsFromWarmup"?,"connectErrors",
//    "errors":{CODE:N},"errorDetails":[{"code","count","first","meaning"}],"statuses":{"200":N,…},
//    "kernel"?:{"timeWaitPeak","timeWaitPeakClientSide","timeWaitPeakServerSide",
//               "timeWaitAtStart","timeWaitAtStartClientSide","timeWaitAtStartServerSide",
//               "timeWaitAdded","timeWaitAddedClientSide","timeWaitAddedServerSide","ephemeralPortsPeak",
//               "ephemeralPortsUsable","samples","counters":{"TcpExt.ListenOverflows":N,…},"targetIsLocal",
//               "timeWaitReuse"?:{"tcpTwReuse","tcpTimestamps","delayMs","targetIsLoopback"},"fromParts"?:{"with","of"}},
//    "resetsTraced"?:{"sent":[{"sender":"client"|"server","reason","state"|null,"count"}],"receivedByClient","lostEvents"},
//    "verdict":[{"severity","text"}],"timeline":[{"t","requests","errors","p50Ms","p99Ms","timeWait"?,"ephemeralPorts"?}],
//    "histogram":"<HdrHistogram compressed base64, microseconds>","connectHistogram"?,"tlsHistogram"?,"timelineHistograms",
//    "interrupted"?:true,"interruptedInWarmup"?:true,"gaveUp"?:true}
// The kernel section covers the measured part only (after --warmup); "timeWaitAdded…" is this run's own
// TIME_WAIT (peak minus what was there at start). timeline[].errors counts failed connects too.
// "resetsTraced" (--trace): the resets on the target's port during the run, warm-up and bench's own check included.
// With --compare: {"runs":[<run>, <run>]}; after Ctrl-C, the runs made (the last "interrupted") and
// "missing":["close"] for the modes never run. "interruptedInWarmup":true: Ctrl-C came during warm-up, nothing was measured. `bench merge` prints a run (with "merged": N).
// "ok" counts responses with a status below 400; "failed" counts requests that ended in an error.
// "total" counts requests sent: a failed connect sent nothing, it is counted in "connectErrors" (and
// by code in "errors"). "connectionsOpened" counts the measured part; after --warmup the connections
// warm-up opened and the measured part used are "connectionsFromWarmup". Exit 0; 1 when no request got a response or a -n run gave up ("gaveUp": every
// connect failed for --connect-timeout); 130 on Ctrl-C, after the partial result ("interrupted").

import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { TcplensError, UsageError } from '../errors.ts';
import type { BenchOptions, Progress } from '../bench/run.ts';
import { asksClose, parseHeader } from '../http/request.ts';
import type { BenchResult } from '../model/bench-result.ts';
import { renderJson } from '../text/json.ts';
import { formatCount } from '../text/number.ts';
import { useColor } from '../render/table.ts';
import { collect, parseInteger, parseSeconds } from './options.ts';
import { assertWritableFile, clearProgress, out, progress } from './output.ts';

interface BenchCliOptions {
  connections: number;
  duration?: number;
  requests?: number;
  rate?: number;
  method: string;
  header?: [string, string][];
  body?: string;
  bodyFile?: string;
  pipelining: number;
  workers?: number;
  keepalive: boolean;
  timeout: number;
  connectTimeout: number;
  warmup: number;
  insecure?: boolean;
  kernel: boolean;
  trace?: boolean;
  compare?: string;
  json?: boolean;
  html?: string;
}

function parseRate(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`-R takes a rate above 0 (requests per second), not '${raw}'`);
  return n;
}

function parseCompare(raw: string): ('keepalive' | 'close')[] {
  const modes = raw.split(',').map((m) => m.trim().toLowerCase().replace('keep-alive', 'keepalive'));
  for (const m of modes) {
    if (m !== 'keepalive' && m !== 'close')
      throw new UsageError(`--compare takes modes from keepalive,close, not '${m}'`);
  }
  if (modes.length < 2) throw new UsageError('--compare needs two modes, such as keepalive,close');
  if (new Set(modes).size !== modes.length)
    throw new UsageError(`--compare needs two different modes, such as keepalive,close, not '${raw}'`);
  return modes as ('keepalive' | 'close')[];
}

/**
 * 130 when Ctrl-C cut the run short (as shells report SIGINT); 1 when a run got no response at all
 * (every request failed, or no connection could be opened) or a -n run gave up for want of
 * connections; else 0. HTTP error statuses are responses: a run of 404s measured something.
 */
function benchExitCode(runs: BenchResult[], interrupted: boolean): number {
  if (interrupted) return 130;
  const failed = runs.some((r) => r.gaveUp || r.requests.total - r.requests.failed === 0);
  return failed ? 1 : 0;
}

/** The live line: the last second's rate and p99, totals so far, and the newest TIME_WAIT count (with its age once it is not this second's). */
export function progressLine(p: Progress): string {
  const age = p.timeWaitBeforeRun
    ? ' (before the run)'
    : p.timeWaitAgeS !== undefined && p.timeWaitAgeS > 1.5
      ? ` (${p.timeWaitAgeS.toFixed(0)} s ago)`
      : '';
  const tw = p.timeWait === undefined ? '' : `  TIME_WAIT ${formatCount(p.timeWait)}${age}`;
  const refused = p.connectErrors > 0 ? `  failed connects ${formatCount(p.connectErrors)}` : '';
  return `${p.elapsedS.toFixed(0)}s  ${formatCount(p.lastSecondRequests)} req/s  p99 ${p.lastSecondP99Ms.toFixed(2)} ms  done ${formatCount(p.completed)}  errors ${formatCount(p.failed)}${refused}${tw}`;
}

/** --trace: the resets on the target's port, or one line saying why not (the run goes on without). */
async function startResetTrace(url: string): Promise<import('../trace/reset-senders.ts').ResetSenders | undefined> {
  let port: number;
  try {
    const u = new URL(url);
    port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  } catch {
    return undefined; // the run itself says what is wrong with the URL
  }
  const { startResetSenders } = await import('../trace/reset-senders.ts');
  const notice = (text: string) => {
    clearProgress();
    process.stderr.write(`tcplens: ${text}\n`);
  };
  progress('tcplens bench: starting the trace (bpftrace compiles its probes)…');
  try {
    return await startResetSenders(port, notice);
  } catch (err) {
    if (!(err instanceof TcplensError)) throw err;
    const { withoutFallbackAdvice } = await import('./ebpf-option.ts');
    notice(`--trace: ${withoutFallbackAdvice(err.message)}; the verdict counts resets without saying whose`);
    return undefined;
  } finally {
    clearProgress();
  }
}

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('HTTP/1.1 load generator: latency percentiles, errors by cause, and what the load did to the kernel')
    .argument('[url]', 'http:// or https:// URL to load')
    .option('-c, --connections <n>', 'concurrent connections', parseInteger('-c', 1, 1_000_000), 64)
    .option(
      '-d, --duration <seconds>',
      'how long to run (default 10 s unless -n)',
      parseSeconds('-d', { min: 0.1, max: 86_400 }),
    )
    .option(
      '-n, --requests <n>',
      'send exactly N requests (after any warm-up), then stop; at most N connections',
      parseInteger('-n', 1, Number.MAX_SAFE_INTEGER),
    )
    .option(
      '-R, --rate <rps>',
      'open model: N requests per second on a fixed schedule, latency from the scheduled time',
      parseRate,
    )
    .option('-m, --method <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', 'request header "Name: value" (repeatable)', collect(parseHeader))
    .option('-b, --body <text>', 'request body')
    .option('--body-file <path>', 'request body from a file')
    .option('-p, --pipelining <n>', 'requests in flight per connection', parseInteger('-p', 1, 1024), 1)
    .option(
      '-w, --workers <n>',
      'worker threads (default 1 against this host, else one per core)',
      parseInteger('-w', 1, 256),
    )
    .option('--no-keepalive', 'a new TCP connection for every request (sends Connection: close)')
    .option('--timeout <seconds>', 'time allowed for each response', parseSeconds('--timeout', { min: 0.001 }), 10)
    .option(
      '--connect-timeout <seconds>',
      'time allowed for each connection; a -n run whose every connect fails this long gives up',
      parseSeconds('--connect-timeout', { min: 0.001 }),
      5,
    )
    .option(
      '--warmup <seconds>',
      'run this long first without recording or counting towards -n',
      parseSeconds('--warmup', { min: 0 }),
      0,
    )
    .option('-k, --insecure', 'accept any TLS certificate (self-signed test servers)')
    .option('--no-kernel', 'do not sample the kernel during the run')
    .option(
      '--trace',
      "trace the resets on the target's port during the run (root, bpftrace): the verdict says whose they are and the kernel's reason",
    )
    .option('--compare <modes>', 'run each mode back to back on the same settings, e.g. keepalive,close')
    .option('--json', 'machine-readable result (schema: docs/json-schemas.md)')
    .option('--html <file>', 'also write a self-contained HTML report')
    .addHelpText(
      'after',
      `
Examples:
  tcplens bench http://127.0.0.1:8080/ -c 64 -d 10
  tcplens bench http://127.0.0.1:8080/ --no-keepalive -d 5      short connections: watch TIME_WAIT and ports
  tcplens bench http://127.0.0.1:8080/ --compare keepalive,close -d 5
  tcplens bench http://127.0.0.1:8080/ -R 2000 -c 50 -d 30      fixed rate, coordinated omission corrected
  tcplens bench http://127.0.0.1:8080/ -n 10000 --json > a.json
  sudo tcplens bench https://127.0.0.1:8443/ -k --trace          whose resets, and why
  tcplens bench merge a.json b.json                              add up runs from several load machines`,
    )
    .action(async (url: string | undefined, o: BenchCliOptions) => {
      if (!url) throw new UsageError('bench needs a URL, such as tcplens bench http://127.0.0.1:8080/');
      if (o.html !== undefined) assertWritableFile(o.html, '--html');
      let body: Uint8Array | undefined;
      if (o.body !== undefined && o.bodyFile !== undefined) throw new UsageError('give -b or --body-file, not both');
      if (o.body !== undefined) body = Buffer.from(o.body);
      if (o.bodyFile !== undefined) {
        try {
          body = readFileSync(o.bodyFile);
        } catch (err) {
          throw new UsageError(
            `--body-file: cannot read ${o.bodyFile} (${(err as NodeJS.ErrnoException).code ?? err})`,
          );
        }
      }
      // -H "Connection: close" makes every request open a connection: run (and say) close mode.
      const closeHeader = asksClose(o.header);
      if (closeHeader && o.compare)
        throw new UsageError(
          '--compare and -H "Connection: close" cannot go together: the header closes every connection in either mode',
        );
      if (closeHeader && o.keepalive)
        process.stderr.write(
          'tcplens: -H "Connection: close" opens a new connection per request: running as --no-keepalive\n',
        );
      const modes = o.compare ? parseCompare(o.compare) : [o.keepalive && !closeHeader ? 'keepalive' : 'close'];
      // Loaded here, not at start-up: the other commands should not pay for the load generator.
      const { runBench } = await import('../bench/run.ts');
      const { renderBench, renderCompare } = await import('../render/bench.ts');
      const color = useColor();
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      const runs: BenchResult[] = [];
      try {
        for (const mode of modes) {
          const options: BenchOptions = {
            url,
            method: o.method,
            headers: o.header,
            body,
            connections: o.connections,
            durationS: o.duration,
            requests: o.requests,
            rate: o.rate,
            keepAlive: mode === 'keepalive',
            pipelining: o.pipelining,
            workers: o.workers,
            timeoutMs: o.timeout * 1000,
            connectTimeoutMs: o.connectTimeout * 1000,
            warmupS: o.warmup,
            insecure: o.insecure,
            kernel: o.kernel,
            signal: controller.signal,
            onProgress: (p) => progress(`${modes.length > 1 ? `${mode}  ` : ''}${progressLine(p)}`),
          };
          const tracer = o.trace ? await startResetTrace(url) : undefined;
          let traced: import('../model/bench-result.ts').TracedResets | undefined;
          let result: BenchResult;
          try {
            result = await runBench(options);
          } finally {
            if (tracer) traced = await tracer.stop();
          }
          if (traced && !result.interruptedInWarmup) {
            const { verdict } = await import('../bench/verdict.ts');
            result.resetsTraced = traced;
            result.verdict = verdict(result);
          }
          runs.push(result);
          clearProgress();
          if (controller.signal.aborted) break;
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
        clearProgress();
      }
      // A compare cut short by Ctrl-C keeps its shape: the modes that never ran are named as missing.
      const missing = modes.slice(runs.length);
      // The result first: whatever happens to the report file, the run is not lost.
      if (o.json) out(renderJson(modes.length > 1 ? { runs, ...(missing.length ? { missing } : {}) } : runs[0]));
      else out(modes.length > 1 ? renderCompare(runs, color, missing) : renderBench(runs[0]!, color));
      if (o.html) {
        const { renderBenchHtml } = await import('../render/bench-html.ts');
        try {
          writeFileSync(o.html, renderBenchHtml(runs));
        } catch (err) {
          throw new TcplensError(
            `--html: cannot write ${o.html} (${(err as NodeJS.ErrnoException).code ?? err}); the result is above`,
          );
        }
        if (!o.json) out(`\nReport: ${o.html}\n`);
      }
      process.exitCode = benchExitCode(runs, controller.signal.aborted);
    });

  bench
    .command('merge')
    .description('add up results of runs made at the same time on several load machines (histograms merged exactly)')
    .argument('<files...>', 'results written by tcplens bench --json')
    .option('--json', 'machine-readable result')
    .action(async (files: string[], _o: unknown, cmd: Command) => {
      const { mergeResults } = await import('../bench/merge.ts');
      const { renderBench } = await import('../render/bench.ts');
      // --json may land on `bench` (it has one too) when written after the files.
      const o = cmd.optsWithGlobals() as { json?: boolean };
      const results = files.map((f) => {
        let text: string;
        try {
          text = readFileSync(f, 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? err})`);
        }
        try {
          return JSON.parse(text) as BenchResult;
        } catch {
          throw new UsageError(`${f} is not JSON: give files written by tcplens bench --json`);
        }
      });
      const merged = mergeResults(results, files);
      out(o.json ? renderJson(merged) : renderBench(merged, useColor()));
    });
}
