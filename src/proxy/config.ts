// Proxies from a config file (Toxiproxy's populate format, with "mode" and "toxics" per proxy) and
// from the CLI's shortcuts for a one-off proxy.

import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { parseHostPort } from './address.ts';
import type { ProxyConfig } from './collection.ts';
import type { ToxicConfig } from './toxic-set.ts';
import type { Stream } from './toxics/toxic.ts';

/** The file's proxies, unchecked beyond being a list: populate checks each as the API does. */
export function readConfigFile(path: string): ProxyConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read --config ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config ${path} is not JSON: ${(err as Error).message}`);
  }
  const list =
    typeof data === 'object' && data !== null && !Array.isArray(data) && 'proxies' in data
      ? (data as { proxies: unknown }).proxies
      : data;
  if (!Array.isArray(list))
    throw new UsageError(`--config ${path} must hold a list of proxies ([{"name","listen","upstream",…}])`);
  return list as ProxyConfig[];
}

export interface ShortcutOptions {
  name: string;
  listen: string;
  upstream: string;
  http: boolean;
  toxicity: number;
  stream: Stream;
  /** The shortcuts' toxics hit only connections from these addresses or CIDR blocks. */
  clients?: string[];
  latency?: { latencyMs: number; jitterMs: number };
  jitterMs?: number;
  bandwidthKBps?: number;
  slowCloseMs?: number;
  timeoutMs?: number;
  resetPeerMs?: number;
  slicer?: { averageSize: number; sizeVariation: number; delayUs: number };
  limitDataBytes?: number;
  status?: number;
  retryAfterS?: number;
  resetBodyBytes?: number;
  stallMs?: number;
  /** Terminate TLS from clients with a self-signed certificate made at start. */
  tls?: boolean;
  certFile?: string;
  keyFile?: string;
  /** Speak TLS to the upstream (implied by upstreamCaFile and upstreamInsecure). */
  upstreamTls?: boolean;
  upstreamCaFile?: string;
  upstreamInsecure?: boolean;
}

/** One proxy with a toxic per shortcut given; a shortcut of the other mode is a usage error. */
export function shortcutProxy(o: ShortcutOptions): ProxyConfig {
  const toxics: ToxicConfig[] = [];
  const add = (type: string, attributes: Record<string, number>) =>
    toxics.push({
      type,
      stream: o.stream,
      toxicity: o.toxicity,
      attributes,
      ...(o.clients ? { clients: o.clients } : {}),
    });
  const tcpOnly = (flag: string) => {
    if (o.http)
      throw new UsageError(
        `${flag} is a TCP toxic: drop --http, or use an HTTP one (--latency, --status, --reset-body, --stall)`,
      );
  };
  const httpOnly = (flag: string) => {
    if (!o.http) throw new UsageError(`${flag} acts per HTTP request: add --http`);
  };
  // The API takes an upstream without a port, as Toxiproxy does; on the command line it is a slip.
  const upstream = parseHostPort(o.upstream, { allowZero: false });
  if (typeof upstream === 'string') throw new UsageError(`--upstream takes HOST:PORT (${upstream})`);
  if (o.jitterMs !== undefined && o.latency === undefined) throw new UsageError('--jitter goes with --latency');
  if (o.latency) add('latency', { latency: o.latency.latencyMs, jitter: o.jitterMs ?? o.latency.jitterMs });
  if (o.bandwidthKBps !== undefined) {
    tcpOnly('--bandwidth');
    add('bandwidth', { rate: o.bandwidthKBps });
  }
  if (o.slowCloseMs !== undefined) {
    tcpOnly('--slow-close');
    add('slow_close', { delay: o.slowCloseMs });
  }
  if (o.timeoutMs !== undefined) {
    tcpOnly('--timeout');
    add('timeout', { timeout: o.timeoutMs });
  }
  if (o.resetPeerMs !== undefined) {
    tcpOnly('--reset-peer');
    add('reset_peer', { timeout: o.resetPeerMs });
  }
  if (o.slicer) {
    tcpOnly('--slicer');
    add('slicer', {
      average_size: o.slicer.averageSize,
      size_variation: o.slicer.sizeVariation,
      delay: o.slicer.delayUs,
    });
  }
  if (o.limitDataBytes !== undefined) {
    tcpOnly('--limit-data');
    add('limit_data', { bytes: o.limitDataBytes });
  }
  if (o.retryAfterS !== undefined && o.status === undefined) throw new UsageError('--retry-after goes with --status');
  if (o.status !== undefined) {
    httpOnly('--status');
    add('status', { code: o.status, retry_after: o.retryAfterS ?? 0 });
  }
  if (o.resetBodyBytes !== undefined) {
    httpOnly('--reset-body');
    add('reset_body', { body_bytes: o.resetBodyBytes });
  }
  if (o.stallMs !== undefined) {
    httpOnly('--stall');
    add('stall', { timeout: o.stallMs });
  }
  if (o.clients && toxics.length === 0)
    throw new UsageError('--clients limits the toxic flags (--latency, --status…): give one');
  const config: ProxyConfig = {
    name: o.name,
    listen: o.listen,
    upstream: o.upstream,
    mode: o.http ? 'http' : 'tcp',
    toxics,
  };
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) throw new UsageError('--cert and --key go together');
  if (o.tls && o.certFile !== undefined) throw new UsageError('give --tls (self-signed) or --cert/--key, not both');
  if (o.certFile !== undefined) config.listen_tls = { cert_file: o.certFile, key_file: o.keyFile };
  else if (o.tls) config.listen_tls = { self_signed: true };
  if (o.upstreamCaFile !== undefined && o.upstreamInsecure)
    throw new UsageError('give --upstream-ca or --upstream-insecure, not both');
  if (o.upstreamTls || o.upstreamCaFile !== undefined || o.upstreamInsecure) {
    config.upstream_tls = {};
    if (o.upstreamCaFile !== undefined) config.upstream_tls.ca_file = o.upstreamCaFile;
    if (o.upstreamInsecure) config.upstream_tls.insecure = true;
  }
  return config;
}

/** "200ms", "1.5s", or a range "200ms-2s" / "200-2000" (uniform: latency at the middle, jitter half the width). */
export function parseLatency(flag: string) {
  const one = (raw: string): number | undefined => {
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
    if (!m) return undefined;
    return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  };
  return (raw: string): { latencyMs: number; jitterMs: number } => {
    const parts = raw.split('-');
    const values = parts.map(one);
    if (parts.length > 2 || values.some((v) => v === undefined)) {
      throw new UsageError(`${flag} takes milliseconds (200, 200ms, 2s) or a range (200ms-2s), not '${raw}'`);
    }
    const [lo, hi = lo] = values as number[];
    if (hi! < lo!) throw new UsageError(`${flag} range must go from low to high, not '${raw}'`);
    const latencyMs = Math.round((lo! + hi!) / 2);
    return { latencyMs, jitterMs: Math.round(hi! - latencyMs) };
  };
}

/** A probability: 0…1, or a percentage ("5%"). */
export function parseFraction(flag: string) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(raw.trim());
    const v = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
    if (!(v >= 0 && v <= 1))
      throw new UsageError(`${flag} takes a probability between 0 and 1 (or 0%-100%), not '${raw}'`);
    return v;
  };
}

/** "AVG[,VARIATION[,DELAY_US]]" for --slicer. */
export function parseSlicer(raw: string): { averageSize: number; sizeVariation: number; delayUs: number } {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--slicer takes AVERAGE_BYTES[,VARIATION_BYTES[,DELAY_US]], not '${raw}'`);
  }
  const [a, v = '0', d = '0'] = parts;
  if (Number(a) < 1) throw new UsageError('--slicer: the average size must be at least 1 byte');
  return { averageSize: Number(a), sizeVariation: Number(v), delayUs: Number(d) };
}
