// Steps the experiments share: tcplens serve and bench run where the experiment says (a namespace,
// or loopback without root), and the kernel read inside a namespace (sockets, counters, sysctls).

import { fileURLToPath } from 'node:url';
import type { Netns } from '../kernel/netns.ts';
import { parseProcNetTcp } from '../kernel/proc-net-tcp.ts';
import { parseSnmp } from '../kernel/snmp.ts';
import type { BenchResult } from '../model/bench-result.ts';
import type { Socket } from '../model/socket.ts';
import type { LabContext, LabProcess } from './experiment.ts';

export interface Served {
  proc: LabProcess;
  url: string;
  host: string;
  port: number;
}

/** `tcplens serve --json` on host:port (port 0: any), inside ns when given; resolves once it listens. */
export async function startServe(
  ctx: LabContext,
  o: { ns?: Netns; host: string; port?: number; args?: string[] },
): Promise<Served> {
  const proc = ctx.start(
    [...ctx.tcplens, 'serve', '--host', o.host, '--port', String(o.port ?? 0), '--json', ...(o.args ?? [])],
    { ns: o.ns },
  );
  const first = JSON.parse(await proc.waitFor(/^\{/, 15_000)) as { url: string; port: number };
  return { proc, url: first.url, host: o.host, port: first.port };
}

/**
 * `tcplens bench … --json`, inside ns when given; throws with its stderr when it fails. One worker
 * thread unless args say otherwise: against a target in another namespace bench would start one per
 * core, which costs seconds of start-up and competes with the server on a small machine.
 */
export async function bench(
  ctx: LabContext,
  url: string,
  args: string[],
  o: { ns?: Netns; timeoutMs?: number; acceptGaveUp?: boolean } = {},
): Promise<BenchResult> {
  const workers = args.includes('-w') || args.includes('--workers') ? [] : ['-w', '1'];
  const r = await ctx.run([...ctx.tcplens, 'bench', url, ...workers, ...args, '--json'], {
    ns: o.ns,
    timeoutMs: o.timeoutMs ?? 60_000,
  });
  let result: BenchResult | undefined;
  try {
    result = JSON.parse(r.stdout) as BenchResult;
  } catch {
    /* no result: the error below says why */
  }
  // A -n run whose connects all failed for --connect-timeout gives up with exit 1: what E1 expects once its ports run out.
  if (result && (r.code === 0 || (o.acceptGaveUp && (result as { gaveUp?: boolean }).gaveUp))) return result;
  throw new Error(`bench ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
}

/** Path of a helper script of the lab (src/lab/scripts/NAME), to run with process.execPath. */
export function labScript(name: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./scripts/${name}${ext}`, import.meta.url));
}

async function catIn(ctx: LabContext, ns: Netns | undefined, path: string): Promise<string> {
  const r = await ctx.run(['cat', path], { ns, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`cannot read ${path}${ns ? ` in ${ns.name}` : ''}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The IPv4 TCP sockets as seen from inside ns (or the host without one). */
export async function socketsIn(ctx: LabContext, ns: Netns | undefined): Promise<Socket[]> {
  return parseProcNetTcp(await catIn(ctx, ns, '/proc/net/tcp'), 'ipv4').sockets;
}

/** TIME_WAIT sockets inside ns with port at either end. */
export async function timeWaitIn(ctx: LabContext, ns: Netns | undefined, port: number): Promise<Socket[]> {
  return (await socketsIn(ctx, ns)).filter(
    (s) => s.state === 'TIME_WAIT' && (s.local.port === port || s.remote.port === port),
  );
}

/** Tcp and TcpExt counters of the namespace (/proc/net/snmp + /proc/net/netstat read inside it), by "Section.Name". */
export async function countersIn(ctx: LabContext, ns: Netns | undefined): Promise<Record<string, number>> {
  const flat: Record<string, number> = {};
  for (const path of ['/proc/net/snmp', '/proc/net/netstat']) {
    const { sections } = parseSnmp(await catIn(ctx, ns, path));
    for (const [section, fields] of Object.entries(sections))
      for (const [k, v] of Object.entries(fields)) flat[`${section}.${k}`] = v;
  }
  return flat;
}

export function counterDelta(before: Record<string, number>, after: Record<string, number>, name: string): number {
  return (after[name] ?? 0) - (before[name] ?? 0);
}

/** One sysctl's value inside ns (the host's when ns is undefined); undefined when the kernel lacks it. */
export async function sysctlIn(ctx: LabContext, ns: Netns | undefined, name: string): Promise<string | undefined> {
  const r = await ctx.run(['sysctl', '-n', name], { ns, timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export function ratio(a: number, b: number): number {
  return b === 0 ? (a === 0 ? 1 : Infinity) : a / b;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Where an experiment's server and client run: the lab's namespaces when root (apart, over a veth), else loopback. */
export interface Place {
  /** The server's address, as the client reaches it. */
  host: string;
  serverNs?: Netns;
  clientNs?: Netns;
  where: string;
}

export async function labPlace(ctx: LabContext): Promise<Place> {
  if (!ctx.root) return { host: '127.0.0.1', where: 'loopback' };
  const t = await ctx.topology();
  return {
    host: t.serverAddress,
    serverNs: t.server,
    clientNs: t.client,
    where: `namespaces, ${t.clientAddress} → ${t.serverAddress}`,
  };
}

/** One of the lab's client scripts, in the client's namespace: its config as argv[2], its last stdout line as result. */
export async function runScriptJson<T>(
  ctx: LabContext,
  p: Place,
  name: string,
  config: object,
  timeoutMs: number,
): Promise<T> {
  const r = await ctx.run([process.execPath, labScript(name), JSON.stringify(config)], { ns: p.clientNs, timeoutMs });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !last.startsWith('{'))
    throw new Error(`${name} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(last) as T;
}
