// `tcplens probe`: one URL, N times, as a waterfall of where each request's time went.
//
// --json: {"url","requests":[{"index","reused","localAddress","localPort","remoteAddress","remotePort","status","bytes",
//          "timingsMs":{"dns","connect","tls","ttfb","transfer","total"},"tls"?:{"protocol","cipher","alpn","resumed"},
//          "connection"?,"keepAlive"?,"error"?}],"warnings":[…]}
// dns, connect, tls are phase durations (0 on a reused connection); ttfb is from the start of the
// request to the first byte (as curl's time_starttransfer); transfer from first to last byte.

import type { Command } from 'commander';
import { parseHeader } from '../http/request.ts';
import { renderJson } from '../text/json.ts';
import { useColor } from '../render/table.ts';
import { collect, parseInteger, parseMilliseconds, parseSeconds } from './options.ts';
import { out } from './output.ts';

interface ProbeCliOptions {
  requests: number;
  interval: number;
  keepalive: boolean;
  method: string;
  header?: [string, string][];
  insecure?: boolean;
  timeout: number;
  json?: boolean;
}

export function registerProbe(program: Command): void {
  program
    .command('probe')
    .description(
      'one URL, N times: DNS, connect, TLS, first byte and transfer of each request, and whether its connection was reused',
    )
    .argument('<url>', 'http:// or https:// URL')
    .option('-n, --requests <n>', 'how many requests', parseInteger('-n', 1, 10_000), 1)
    .option(
      '--interval <ms>',
      'pause between requests, ms (the idle time of a kept-alive connection)',
      parseMilliseconds('--interval'),
      0,
    )
    .option('--no-keepalive', 'a new connection for every request (Connection: close)')
    .option('-m, --method <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', 'request header "Name: value" (repeatable)', collect(parseHeader))
    .option('-k, --insecure', 'accept any TLS certificate')
    .option('--timeout <seconds>', 'time allowed for each request', parseSeconds('--timeout', { min: 0.001 }), 10)
    .option('--json', 'machine-readable result')
    .addHelpText(
      'after',
      `
Examples:
  tcplens probe http://127.0.0.1:8080/ -n 3                   is the connection reused?
  tcplens probe http://127.0.0.1:8080/delay/200               where 200 ms of server time shows
  tcplens probe http://127.0.0.1:8080/ -n 3 --interval 6000   idle longer than the server's keep-alive`,
    )
    .action(async (url: string, o: ProbeCliOptions) => {
      const { probe } = await import('../probe/probe.ts');
      const { renderProbe } = await import('../render/probe.ts');
      const result = await probe(url, {
        count: o.requests,
        intervalMs: o.interval,
        keepAlive: o.keepalive,
        method: o.method,
        headers: o.header,
        insecure: o.insecure,
        timeoutMs: o.timeout * 1000,
      });
      out(o.json ? renderJson(result) : renderProbe(result, useColor()));
    });
}
