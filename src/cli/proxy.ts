// `tcplens proxy`: a fault-injecting proxy driven by Toxiproxy's API, a config file or a one-off
// from flags; HTTP mode puts faults on single requests.
//
// --json prints one line at start, {"api":"http://…"|null,"proxies":[{"name","listen","upstream","enabled","toxics":[…],"mode","max_connections","listen_tls"?,"upstream_tls"?}]}
// (listen is the bound address), and one at shutdown, {"stats":[{"name","mode","enabled","listen","upstream","maxConnections",
// "connectionsTotal","connectionsActive","connectionsRejected","upstreamFailures","tlsHandshakeFailures","requestsTotal","bytesUpstream","bytesDownstream",
// "droppedUpstream","droppedDownstream","toxics":[{"name","type","stream","toxicity","connectionsAffected","requestsAffected"}]}]}.

import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseChoice, parseInteger, parseMilliseconds } from './options.ts';
import { out } from './output.ts';
// Small and free of heavy imports: the flags' value parsers live there, with the shortcuts they feed.
import { parseFraction, parseLatency, parseSlicer, readConfigFile, shortcutProxy } from '../proxy/config.ts';
import { untilStopSignal } from './stop-signal.ts';

interface ProxyCliOptions {
  api: string | false;
  token?: string;
  config?: string;
  name: string;
  listen?: string;
  upstream?: string;
  http?: boolean;
  latency?: { latencyMs: number; jitterMs: number };
  jitter?: number;
  bandwidth?: number;
  slowClose?: number;
  timeout?: number;
  resetPeer?: number;
  slicer?: { averageSize: number; sizeVariation: number; delayUs: number };
  limitData?: number;
  status?: number;
  retryAfter?: number;
  resetBody?: number;
  stall?: number;
  toxicity: number;
  stream: 'upstream' | 'downstream';
  clients?: string[];
  maxConnections?: number;
  threads?: number;
  tls?: boolean;
  cert?: string;
  key?: string;
  upstreamTls?: boolean;
  upstreamCa?: string;
  upstreamInsecure?: boolean;
  json?: boolean;
  verbose?: boolean;
}

const SHORTCUTS = [
  'latency',
  'jitter',
  'bandwidth',
  'slowClose',
  'timeout',
  'resetPeer',
  'slicer',
  'limitData',
  'status',
  'retryAfter',
  'resetBody',
  'stall',
  'tls',
  'cert',
  'key',
  'upstreamTls',
  'upstreamCa',
  'upstreamInsecure',
  'clients',
] as const;

/** The one-off proxy's files are flags on this command line: its errors name the flags, not the API's fields. */
function flagWords(message: string, o: ProxyCliOptions): string {
  if (o.upstream === undefined || !message.includes(`proxy ${o.name}`)) return message;
  return message
    .replace(`listen_tls.cert_file ${o.cert}`, `--cert ${o.cert}`)
    .replace(`listen_tls.key_file ${o.key}`, `--key ${o.key}`)
    .replace(`upstream_tls.ca_file ${o.upstreamCa}`, `--upstream-ca ${o.upstreamCa}`)
    .replace(/ (for|of) proxy [^\s:]+/, '')
    .replace(/^listen_tls \(/, '--cert/--key (');
}

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description(
      'a fault-injecting TCP/HTTP proxy that Toxiproxy clients drive unchanged (latency, bandwidth, resets, HTTP status…)',
    )
    .option('--api <host:port>', 'control API address (Toxiproxy 2.x routes, /metrics)', '127.0.0.1:8474')
    .option('--no-api', 'no control API')
    .option('--token <token>', 'require Authorization: Bearer <token> on the API (needed when it is not on loopback)')
    .option('--config <file.json>', 'proxies to start: Toxiproxy populate format, each may carry "mode" and "toxics"')
    .option('--name <name>', 'name of the one-off proxy', 'proxy')
    .option('--listen <host:port>', 'one-off proxy: where to listen (port 0: any free port)')
    .option('--upstream <host:port>', 'one-off proxy: where to forward')
    .option('--http', 'one-off proxy in HTTP mode: faults per request, through keep-alive')
    .option('--latency <ms|min-max>', 'add latency (200ms; a range 200ms-2s is uniform)', parseLatency('--latency'))
    .option('--jitter <ms>', 'latency variation, ±', parseMilliseconds('--jitter'))
    .option('--bandwidth <KBps>', 'limit to this many KB/s (1 KB = 1000 B)', parseInteger('--bandwidth', 1, 1e9))
    .option('--slow-close <ms>', 'hold the close (FIN) this long', parseMilliseconds('--slow-close'))
    .option('--timeout <ms>', 'let nothing through; close after ms (0: never)', parseMilliseconds('--timeout'))
    .option('--reset-peer <ms>', 'RST this long after the next data', parseMilliseconds('--reset-peer'))
    .option('--slicer <avg[,var[,delay_us]]>', 'cut data into pieces of avg±var bytes, delay_us apart', parseSlicer)
    .option(
      '--limit-data <bytes>',
      'close after exactly this many bytes',
      parseInteger('--limit-data', 0, Number.MAX_SAFE_INTEGER),
    )
    .option('--status <code>', 'HTTP: answer with this status instead (503, 429…)', parseInteger('--status', 200, 599))
    .option('--retry-after <s>', 'HTTP: with --status, a Retry-After header', parseInteger('--retry-after', 1, 1e9))
    .option(
      '--reset-body <bytes>',
      'HTTP: RST after this many bytes of the response body',
      parseInteger('--reset-body', 0, Number.MAX_SAFE_INTEGER),
    )
    .option('--stall <ms>', 'HTTP: withhold the response; close after ms (0: never)', parseMilliseconds('--stall'))
    .option(
      '--toxicity <p>',
      'share of connections (HTTP: requests) the shortcuts hit: 0-1 or 5%',
      parseFraction('--toxicity'),
      1,
    )
    .option(
      '--stream <dir>',
      'direction of the shortcuts: downstream (server to client) or upstream',
      parseChoice('--stream', ['downstream', 'upstream'] as const),
      'downstream',
    )
    .option('--tls', 'one-off proxy: terminate TLS from clients with a self-signed certificate made at start')
    .option('--cert <file>', 'one-off proxy: terminate TLS with this certificate (PEM; with --key)')
    .option('--key <file>', 'the private key for --cert (PEM)')
    .option('--upstream-tls', 'one-off proxy: speak TLS to the upstream, verified against the system CAs')
    .option('--upstream-ca <file>', 'speak TLS to the upstream, trusting the CA certificates in this PEM file')
    .option('--upstream-insecure', 'speak TLS to the upstream without verifying its certificate')
    .option(
      '--clients <list>',
      'the shortcuts hit only connections from these addresses or CIDR blocks (127.0.0.2,10.0.0.0/8)',
      (raw: string) => raw.split(',').map((c) => c.trim()),
    )
    .option(
      '--max-connections <n>',
      'client connections each proxy keeps open at once; more are closed at accept (default 10000; API: "max_connections")',
      parseInteger('--max-connections', 1, 2 ** 31 - 1),
    )
    .option(
      '--threads <n>',
      "threads that carry connections, each listening on every proxy's address (default: one per core, at most 4; env TCPLENS_PROXY_THREADS)",
      parseInteger('--threads', 1, 64),
    )
    .option('--json', 'one JSON line at start (bound addresses) and one at shutdown (counts)')
    .option('--verbose', 'counts per proxy and toxic on stderr, once a second while they change')
    .addHelpText(
      'after',
      `
Toxics (API and --config; attributes as in Toxiproxy):
  tcp:  latency {latency,jitter ms}  bandwidth {rate KB/s}  slow_close {delay ms}  timeout {timeout ms}
        reset_peer {timeout ms}  slicer {average_size,size_variation bytes, delay µs}  limit_data {bytes}  noop
  http: latency {latency,jitter ms}  status {code,retry_after s}  reset_body {body_bytes}  stall {timeout ms}
  Toxicity is rolled once per connection (tcp) or once per request (http).
  "clients": ["127.0.0.2", "10.0.0.0/8"] on a toxic limits it to connections from those addresses.
TLS (API and --config: "listen_tls": {"cert_file","key_file"} or {} for self-signed;
  "upstream_tls": {} or {"ca_file"} or {"insecure":true}, "server_name"): HTTP toxics in front of https.

Examples:
  tcplens proxy                                                   the API on 127.0.0.1:8474, for Toxiproxy clients
  tcplens proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:8080 --latency 200ms --jitter 50ms
  tcplens proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:8080 --http --latency 200ms-2s --toxicity 5%
  tcplens proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:8080 --http --status 429 --retry-after 2 --toxicity 0.1
  tcplens proxy --listen 127.0.0.1:9443 --upstream example.test:443 --tls --upstream-tls --http --status 503 --toxicity 10%
  tcplens proxy --config proxies.json --verbose
  curl -s localhost:8474/proxies/proxy/toxics -d '{"type":"bandwidth","attributes":{"rate":100}}'`,
    )
    .action(async (o: ProxyCliOptions) => {
      const { ApiError } = await import('../proxy/api-error.ts');
      const { createProxyServer } = await import('../proxy/server.ts');
      const { renderStartup, renderCounts } = await import('../render/proxy.ts');
      const proxies = o.config ? readConfigFile(o.config) : [];
      const shortcuts = SHORTCUTS.filter((k) => o[k] !== undefined);
      if (o.upstream !== undefined) {
        proxies.push(
          shortcutProxy({
            name: o.name,
            listen: o.listen ?? '127.0.0.1:0',
            upstream: o.upstream,
            http: Boolean(o.http),
            toxicity: o.toxicity,
            stream: o.stream,
            clients: o.clients,
            latency: o.latency,
            jitterMs: o.jitter,
            bandwidthKBps: o.bandwidth,
            slowCloseMs: o.slowClose,
            timeoutMs: o.timeout,
            resetPeerMs: o.resetPeer,
            slicer: o.slicer,
            limitDataBytes: o.limitData,
            status: o.status,
            retryAfterS: o.retryAfter,
            resetBodyBytes: o.resetBody,
            stallMs: o.stall,
            tls: o.tls,
            certFile: o.cert,
            keyFile: o.key,
            upstreamTls: o.upstreamTls,
            upstreamCaFile: o.upstreamCa,
            upstreamInsecure: o.upstreamInsecure,
          }),
        );
      } else if (o.listen !== undefined || o.http || shortcuts.length > 0) {
        throw new UsageError(
          `${o.listen !== undefined ? '--listen' : o.http ? '--http' : `--${shortcuts[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`} needs --upstream HOST:PORT`,
        );
      }
      if (o.api === false && proxies.length === 0)
        throw new UsageError('--no-api without --upstream or --config leaves nothing to do');

      const { defaultThreads, threadsFromEnv } = await import('../proxy/threads.ts');
      const threads = o.threads ?? threadsFromEnv() ?? defaultThreads();
      const server = await createProxyServer({
        api: o.api,
        token: o.token,
        proxies,
        maxConnections: o.maxConnections,
        threads,
      }).catch((err: unknown) => {
        if (err instanceof ApiError) {
          const where = o.config ? `--config ${o.config}: ` : '';
          throw new UsageError(
            err.status === 500
              ? `cannot listen: ${err.message.replace(/^listen tcp /, '')}`
              : `${where}${flagWords(err.message, o)}`,
          );
        }
        throw err;
      });
      // Before the address is printed: see untilStopSignal.
      const stopSignal = untilStopSignal();
      if (o.json)
        out(JSON.stringify({ api: server.apiUrl ?? null, proxies: server.list().map((p) => p.toJSON()) }) + '\n');
      else
        out(
          renderStartup(
            server.apiUrl,
            server.list().map((p) => p.toJSON()),
          ),
        );

      let last = renderCounts(server.stats());
      const ticker = o.verbose
        ? setInterval(() => {
            const text = renderCounts(server.stats());
            if (text !== last) process.stderr.write(text);
            last = text;
          }, 1000)
        : undefined;
      await stopSignal;
      if (ticker) clearInterval(ticker);
      const stats = server.stats();
      await server.close();
      if (o.json) out(JSON.stringify({ stats }) + '\n');
      else out(`\n${renderCounts(stats)}`);
    });
}
