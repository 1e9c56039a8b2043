// Server timeouts that hold up under slow clients and load balancers, each with its reason, and
// warnings for combinations that fail in production (502s from keep-alive races, slowloris).

import type { Server as HttpServer } from 'node:http';
import { UsageError } from '../errors.ts';
import { setConnectionsCheckingInterval } from '../node-internals.ts';

export type HardenProfile = 'internet' | 'behind-lb';

export interface HardenOptions {
  /** internet (default): clients connect directly; behind-lb: a proxy or load balancer keeps connections open. */
  profile?: HardenProfile;
  /** The idle timeout of the load balancer in front (e.g. 60000 for AWS ALB's default). */
  loadBalancerIdleTimeoutMs?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  connectionsCheckingIntervalMs?: number;
  maxRequestsPerSocket?: number;
  /** server.timeout: inactivity on a socket before it is destroyed (0: never). */
  socketTimeoutMs?: number;
}

export interface Setting {
  name:
    | 'headersTimeout'
    | 'requestTimeout'
    | 'keepAliveTimeout'
    | 'connectionsCheckingInterval'
    | 'maxRequestsPerSocket'
    | 'timeout';
  value: number;
  reason: string;
}

export interface HardenResult {
  settings: Setting[];
  warnings: string[];
}

/** The settings a profile asks for, before they touch a server. Pure. */
export function hardenedSettings(o: HardenOptions = {}): HardenResult {
  const profile = o.profile ?? (o.loadBalancerIdleTimeoutMs ? 'behind-lb' : 'internet');
  const lbIdle = o.loadBalancerIdleTimeoutMs ?? 60_000;
  const keepAlive = o.keepAliveTimeoutMs ?? (profile === 'behind-lb' ? lbIdle + 5_000 : 5_000);
  const headers = o.headersTimeoutMs ?? (profile === 'behind-lb' ? keepAlive + 1_000 : 10_000);
  const request = o.requestTimeoutMs ?? Math.max(30_000, headers);
  const checking = o.connectionsCheckingIntervalMs ?? Math.min(1_000, Math.max(100, Math.floor(headers / 4)));
  const maxRequests = o.maxRequestsPerSocket ?? (profile === 'behind-lb' ? 0 : 1_000);
  const socketTimeout = o.socketTimeoutMs ?? 0;
  for (const [name, v] of Object.entries({ keepAlive, headers, request, checking, maxRequests, socketTimeout })) {
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`${name} must be a number of milliseconds >= 0, not ${v}`);
  }
  const settings: Setting[] = [
    {
      name: 'headersTimeout',
      value: headers,
      reason:
        profile === 'behind-lb'
          ? 'longer than keepAliveTimeout, so an idle connection the load balancer reuses is never cut by the header timer'
          : 'a client must send its whole request head within this: slowloris crowds are cut off instead of holding sockets',
    },
    { name: 'requestTimeout', value: request, reason: 'a whole request, body included, must arrive within this' },
    {
      name: 'keepAliveTimeout',
      value: keepAlive,
      reason:
        profile === 'behind-lb'
          ? `longer than the load balancer's idle timeout (${lbIdle} ms), so the balancer closes idle connections first and never sends a request on one the server just closed (a 502)`
          : 'idle keep-alive connections are closed after this; clients reusing sockets must idle out sooner',
    },
    {
      name: 'connectionsCheckingInterval',
      value: checking,
      reason:
        'Node checks headersTimeout and requestTimeout only at this interval (default 30 s): it must be well below them to bite',
    },
    {
      name: 'maxRequestsPerSocket',
      value: maxRequests,
      reason:
        maxRequests === 0
          ? 'unlimited: the load balancer spreads requests itself'
          : 'a connection is closed after this many requests, so long-lived clients rebalance across workers and instances',
    },
    {
      name: 'timeout',
      value: socketTimeout,
      reason: socketTimeout
        ? 'sockets inactive this long are destroyed'
        : 'no inactivity timeout: the timeouts above cover idle and slow clients',
    },
  ];
  return {
    settings,
    warnings: checkSettings({ headers, request, keepAlive, checking, lbIdle: o.loadBalancerIdleTimeoutMs }),
  };
}

/** Warnings about inconsistent timeouts. Pure. */
export function checkSettings(s: {
  headers: number;
  request: number;
  keepAlive: number;
  checking: number;
  lbIdle?: number;
}): string[] {
  const w: string[] = [];
  if (s.lbIdle !== undefined && s.keepAlive <= s.lbIdle) {
    w.push(
      `keepAliveTimeout ${s.keepAlive} ms is not longer than the load balancer's idle timeout ${s.lbIdle} ms: the server closes idle connections the balancer still reuses, which shows as 502s`,
    );
  }
  if (s.request !== 0 && s.headers > s.request)
    w.push(`headersTimeout ${s.headers} ms is longer than requestTimeout ${s.request} ms: Node refuses this`);
  if (s.checking > s.headers / 2) {
    w.push(
      `connectionsCheckingInterval ${s.checking} ms is too coarse for headersTimeout ${s.headers} ms: slow clients get up to ${s.headers + s.checking} ms`,
    );
  }
  return w;
}

/** Apply hardened timeouts to a node:http(s) server. Returns what was set and why, and warnings. */
export function hardenServer(server: HttpServer, options: HardenOptions = {}): HardenResult {
  const result = hardenedSettings(options);
  for (const s of result.settings) {
    if (s.name === 'timeout') server.setTimeout(s.value);
    else if (s.name === 'connectionsCheckingInterval') {
      // Read by the server when it starts listening; setting it later has no effect.
      setConnectionsCheckingInterval(server, s.value);
      if (server.listening)
        result.warnings.push('connectionsCheckingInterval only takes effect when set before listen()');
    } else (server as unknown as Record<string, number>)[s.name] = s.value;
  }
  return result;
}
