// A collection of proxies, as Toxiproxy's ProxyCollection: create, find, remove, populate (all or
// nothing), reset. What the API and the metrics read; the server around it is in server.ts.

import { ApiError, badRequestBody, missingField, proxyAlreadyExists, proxyNotFound } from './api-error.ts';
import {
  DEFAULT_MAX_CONNECTIONS,
  MAX_CONNECTIONS_LIMIT,
  Proxy,
  upstreamAddress,
  type ProxyShare,
  type ProxyTls,
} from './proxy.ts';
import { newCounterBlock } from './shared-counters.ts';
import type { ProxyThreads } from './threads.ts';
import {
  loadListenTls,
  loadUpstreamTls,
  parseListenTls,
  parseUpstreamTls,
  type ListenTlsJson,
  type UpstreamTlsJson,
} from './tls.ts';
import { parseHostPort } from './address.ts';
import type { ToxicConfig } from './toxic-set.ts';
import type { ProxyMode } from './toxics/index.ts';
import {
  MAX_NAME_BYTES,
  arrayOf,
  booleanField,
  integerValue,
  jsonType,
  member,
  objectOf,
  stringField,
} from './json.ts';

/** A proxy as configured: Toxiproxy's populate entry, plus mode and toxics. */
export interface ProxyConfig {
  name: string;
  /** Default 127.0.0.1:0 (a free port; read the handle's listen). */
  listen?: string;
  upstream: string;
  /** Default true. */
  enabled?: boolean;
  /** 'tcp' (default) or 'http': faults per request. */
  mode?: ProxyMode;
  /** Client connections open at once; more are closed at accept (default: the server's). */
  max_connections?: number;
  toxics?: ToxicConfig[];
  /** Terminate TLS from clients: {cert_file, key_file}, or {} / {self_signed: true} for a certificate made at start. */
  listen_tls?: ListenTlsJson;
  /** Speak TLS to the upstream: {} verifies against the system's CAs; ca_file, insecure, server_name. */
  upstream_tls?: UpstreamTlsJson;
}

interface ProxyInput {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  mode: ProxyMode;
  maxConnections: number | undefined;
  toxics: unknown[] | undefined;
  listenTls: ListenTlsJson | undefined;
  upstreamTls: UpstreamTlsJson | undefined;
}

/** The Go types Toxiproxy decodes a proxy and a populate list into, for its error messages. */
const PROXY = 'toxiproxy.Proxy';
const POPULATE = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }';

/** max_connections: tcplens's own field; at most what a listener counts. */
function maxConnectionsField(o: Record<string, unknown>, struct: string): number | undefined {
  const v = member(o, 'max_connections');
  return v === undefined || v === null
    ? undefined
    : integerValue(v, 'max_connections', `${struct}.max_connections`, 1, MAX_CONNECTIONS_LIMIT);
}

/**
 * A proxy's JSON: types and sizes checked, defaults filled, the two required fields named when
 * missing. `at` names a populate entry ("at proxy 2"), which Go decodes into an anonymous struct.
 */
export function parseProxyInput(input: unknown, at = ''): ProxyInput {
  objectOf(input, PROXY);
  const struct = at === '' ? 'Proxy' : '';
  const name = stringField(input, struct, 'name', '', MAX_NAME_BYTES);
  const listen = stringField(input, struct, 'listen', '');
  const upstream = stringField(input, struct, 'upstream', '');
  const enabled = booleanField(input, struct, 'enabled', true);
  const mode = stringField(input, struct, 'mode', 'tcp');
  if (mode !== 'tcp' && mode !== 'http') throw badRequestBody(`mode must be tcp or http, not '${mode}'`);
  const maxConnections = maxConnectionsField(input, struct);
  const rawToxics = member(input, 'toxics');
  const toxics =
    rawToxics === undefined || rawToxics === null
      ? undefined
      : arrayOf(rawToxics, `${struct}.toxics`, '[]toxics.ToxicWrapper');
  if (name.length < 1) throw missingField(`name${at}`);
  if (upstream.length < 1) throw missingField(`upstream${at}`);
  // Ours, so checked after every field Toxiproxy knows: its errors come first, as it gives them.
  const listenTls = parseListenTls(member(input, 'listen_tls'));
  const upstreamTls = parseUpstreamTls(member(input, 'upstream_tls'));
  return { name, listen, upstream, enabled, mode, maxConnections, toxics, listenTls, upstreamTls };
}

/** The proxy's TLS, files read and certificates checked (or made): ApiError 400 when one cannot be used. */
async function loadTls(input: ProxyInput): Promise<ProxyTls> {
  const tls: ProxyTls = {};
  if (input.listenTls) {
    const listen = parseHostPort(input.listen || '127.0.0.1:0');
    tls.listen = await loadListenTls(input.listenTls, input.name, typeof listen === 'string' ? '' : listen.host);
  }
  if (input.upstreamTls)
    tls.upstream = await loadUpstreamTls(input.upstreamTls, input.name, upstreamAddress(input.upstream)?.host);
  return tls;
}

/** The TLS settings as given, to tell whether populate changes them. */
const tlsKey = (listen: ListenTlsJson | undefined, upstream: UpstreamTlsJson | undefined) =>
  JSON.stringify([listen?.self_signed ? { self_signed: true } : (listen ?? null), upstream ?? null]);

/**
 * A new proxy with its toxics, not started: every toxic is checked before the proxy exists anywhere,
 * so a bad one (ApiError) leaves nothing behind.
 */
function build(input: ProxyInput, defaultMaxConnections: number, tls: ProxyTls = {}, threads?: ProxyThreads): Proxy {
  const share: ProxyShare | undefined = threads && { block: newCounterBlock(threads.slots), slot: 0, mirror: threads };
  const proxy = new Proxy(
    input.name,
    input.listen,
    input.upstream,
    input.mode,
    input.maxConnections ?? defaultMaxConnections,
    tls,
    share,
  );
  for (const t of input.toxics ?? []) proxy.toxics.add(t);
  return proxy;
}

/** Toxiproxy's ProxyCollection: names unique, every change made one at a time. */
export class ProxyCollection {
  private readonly proxies = new Map<string, Proxy>();
  private queue: Promise<unknown> = Promise.resolve();
  /** For proxies that do not set max_connections. */
  readonly maxConnections: number;
  /** The other threads that carry connections, if any. */
  readonly threads: ProxyThreads | undefined;

  constructor(maxConnections = DEFAULT_MAX_CONNECTIONS, threads?: ProxyThreads) {
    this.maxConnections = maxConnections;
    this.threads = threads;
  }

  /**
   * Run changes one after the other: API requests arrive concurrently, listen() is async. Each is
   * done when every thread has carried it out, failed or not.
   */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const settle = () => this.threads?.settle();
    const run = this.queue.then(fn, fn).then(
      async (v) => {
        await settle();
        return v;
      },
      async (err: unknown) => {
        await settle();
        throw err;
      },
    );
    this.queue = run.catch(() => {});
    return run;
  }

  list(): Proxy[] {
    return [...this.proxies.values()];
  }

  get(name: string): Proxy {
    const p = this.proxies.get(name);
    if (!p) throw proxyNotFound();
    return p;
  }

  find(name: string): Proxy | undefined {
    return this.proxies.get(name);
  }

  create(body: unknown): Promise<Proxy> {
    return this.serial(async () => {
      const input = parseProxyInput(body);
      build(input, this.maxConnections); // toxics checked before any file is read or certificate made
      if (this.proxies.has(input.name)) throw proxyAlreadyExists();
      const proxy = build(input, this.maxConnections, await loadTls(input), this.threads);
      if (input.enabled) await proxy.start();
      this.proxies.set(proxy.name, proxy);
      return proxy;
    });
  }

  /**
   * Toxiproxy's PopulateJson: every entry checked first, then each added or, when its listen,
   * upstream or mode differ, replacing the proxy of its name. Toxics given replace the proxy's.
   * Returns the proxies done so far with the error that stopped it, if any.
   */
  populate(body: unknown): Promise<{ proxies: Proxy[]; error?: ApiError }> {
    return this.serial(async () => {
      if (!Array.isArray(body))
        throw badRequestBody(`json: cannot unmarshal ${jsonType(body)} into Go value of type ${POPULATE}`);
      const list: unknown[] = body;
      const inputs = list.map((entry, i) => parseProxyInput(entry, ` at proxy ${i + 1}`));
      const done: Proxy[] = [];
      try {
        for (const input of inputs) {
          const existing = this.proxies.get(input.name);
          const sameTls =
            existing !== undefined &&
            tlsKey(existing.tls.listen?.json, existing.tls.upstream?.json) ===
              tlsKey(input.listenTls, input.upstreamTls);
          if (
            existing &&
            sameTls &&
            existing.mode === input.mode &&
            !existing.differs(input.listen || '127.0.0.1:0', input.upstream)
          ) {
            if (input.maxConnections !== undefined) await existing.update({ maxConnections: input.maxConnections });
            if (input.toxics) {
              const fresh = build(input, this.maxConnections); // validates before anything changes
              existing.toxics.reset();
              for (const t of fresh.toxics.list()) existing.toxics.add(t.toJSON());
            }
            done.push(existing);
            continue;
          }
          build(input, this.maxConnections);
          const proxy = build(input, this.maxConnections, await loadTls(input), this.threads);
          existing?.stop();
          if (input.enabled) await proxy.start();
          this.proxies.set(proxy.name, proxy);
          done.push(proxy);
        }
      } catch (err) {
        if (err instanceof ApiError) return { proxies: done, error: err };
        throw err;
      }
      return { proxies: done };
    });
  }

  remove(name: string): Promise<void> {
    return this.serial(() => {
      const p = this.get(name);
      p.stop();
      this.proxies.delete(name);
    });
  }

  update(name: string, body: unknown): Promise<Proxy> {
    return this.serial(async () => {
      const p = this.get(name);
      objectOf(body, PROXY);
      await p.update({
        listen: stringField(body, 'Proxy', 'listen', undefined),
        upstream: stringField(body, 'Proxy', 'upstream', undefined) || undefined,
        enabled: booleanField(body, 'Proxy', 'enabled', undefined),
        maxConnections: maxConnectionsField(body, 'Proxy'),
      });
      return p;
    });
  }

  /** POST /reset: every proxy started again (if it can be) and every toxic removed. */
  reset(): Promise<void> {
    return this.serial(async () => {
      for (const p of this.proxies.values()) {
        await p.start();
        p.toxics.reset();
      }
    });
  }

  closeAll(): void {
    for (const p of this.proxies.values()) p.stop();
    this.proxies.clear();
  }
}
