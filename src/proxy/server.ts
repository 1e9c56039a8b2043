// The proxy server: a collection of proxies (Toxiproxy's ProxyCollection, with populate), the
// control API and the metrics around it. createProxyServer is the library's entry point.

import { ApiError, badRequestBody, missingField, proxyAlreadyExists, proxyNotFound } from './api-error.ts';
import { Proxy, type ProxyHandle, type ProxyJson, type ProxyStats } from './proxy.ts';
import type { ToxicConfig } from './toxic-set.ts';
import type { ProxyMode } from './toxics/index.ts';
import { isObject, jsonType } from './json.ts';

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
  toxics?: ToxicConfig[];
}

export interface ProxyServerOptions {
  /** The control API's 'host:port' (default '127.0.0.1:8474'); false for none. */
  api?: string | false;
  /** Required when the API binds anything but loopback; clients send `Authorization: Bearer <token>`. */
  token?: string;
  /** Proxies started before the promise resolves. */
  proxies?: ProxyConfig[];
}

export interface ProxyServer {
  /** 'http://127.0.0.1:8474', or undefined without an API. */
  readonly apiUrl: string | undefined;
  proxy(name: string): ProxyHandle | undefined;
  list(): ProxyHandle[];
  addProxy(config: ProxyConfig): Promise<ProxyHandle>;
  removeProxy(name: string): Promise<void>;
  /** Every proxy enabled again and every toxic removed (POST /reset). */
  reset(): Promise<void>;
  stats(): ProxyStats[];
  /** The Prometheus exposition text. */
  metrics(): Promise<string>;
  close(): Promise<void>;
}

interface ProxyInput {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  mode: ProxyMode;
  toxics: unknown[] | undefined;
}

function field<T>(o: Record<string, unknown>, key: string, type: 'string' | 'boolean', fallback: T): T {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== type) throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into field ${key} of type ${type === 'boolean' ? 'bool' : type}`);
  return v as T;
}

/** A proxy's JSON: types checked, defaults filled, the two required fields named when missing. */
export function parseProxyInput(input: unknown, at = ''): ProxyInput {
  if (!isObject(input)) throw badRequestBody(`json: cannot unmarshal ${jsonType(input)} into a proxy (an object)`);
  const name = field(input, 'name', 'string', '');
  const listen = field(input, 'listen', 'string', '');
  const upstream = field(input, 'upstream', 'string', '');
  const enabled = field(input, 'enabled', 'boolean', true);
  const mode = field(input, 'mode', 'string', 'tcp');
  if (mode !== 'tcp' && mode !== 'http') throw badRequestBody(`mode must be tcp or http, not '${mode}'`);
  const toxics = input.toxics;
  if (toxics !== undefined && toxics !== null && !Array.isArray(toxics)) {
    throw badRequestBody(`json: cannot unmarshal ${jsonType(toxics)} into field toxics of type array`);
  }
  if (name.length < 1) throw missingField(`name${at}`);
  if (upstream.length < 1) throw missingField(`upstream${at}`);
  return { name, listen, upstream, enabled, mode, toxics: toxics ?? undefined };
}

/** A new proxy with its toxics, not started (throws ApiError for a bad toxic). */
function build(input: ProxyInput): Proxy {
  const proxy = new Proxy(input.name, input.listen, input.upstream, input.mode);
  for (const t of input.toxics ?? []) proxy.toxics.add(t);
  return proxy;
}

/** Toxiproxy's ProxyCollection: names unique, every change made one at a time. */
export class ProxyCollection {
  private readonly proxies = new Map<string, Proxy>();
  private queue: Promise<unknown> = Promise.resolve();

  /** Run changes one after the other: API requests arrive concurrently, listen() is async. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
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
      const proxy = build(input);
      if (this.proxies.has(proxy.name)) throw proxyAlreadyExists();
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
      const list = isObject(body) && Array.isArray(body.proxies) ? body.proxies : body;
      if (!Array.isArray(list)) throw badRequestBody(`json: cannot unmarshal ${jsonType(list)} into a list of proxies`);
      const inputs = list.map((entry, i) => parseProxyInput(entry, ` at proxy ${i + 1}`));
      const done: Proxy[] = [];
      try {
        for (const input of inputs) {
          const existing = this.proxies.get(input.name);
          if (existing && existing.mode === input.mode && !existing.differs(input.listen || '127.0.0.1:0', input.upstream)) {
            if (input.toxics) {
              const fresh = build(input); // validates before anything changes
              existing.toxics.reset();
              for (const t of fresh.toxics.list()) existing.toxics.add(t.toJSON());
            }
            done.push(existing);
            continue;
          }
          const proxy = build(input);
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
      if (!isObject(body)) throw badRequestBody(`json: cannot unmarshal ${jsonType(body)} into a proxy (an object)`);
      await p.update({
        listen: field<string | undefined>(body, 'listen', 'string', undefined),
        upstream: field<string | undefined>(body, 'upstream', 'string', undefined) || undefined,
        enabled: field<boolean | undefined>(body, 'enabled', 'boolean', undefined),
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

export async function createProxyServer(options: ProxyServerOptions = {}): Promise<ProxyServer> {
  const collection = new ProxyCollection();
  const { createProxyMetrics } = await import('./metrics.ts');
  const metrics = createProxyMetrics(collection);
  let api: { url: string; close(): Promise<void> } | undefined;
  try {
    if (options.proxies && options.proxies.length > 0) {
      const { error } = await collection.populate(options.proxies);
      if (error) throw error;
    }
    if (options.api !== false) {
      const { startApi } = await import('./api.ts');
      api = await startApi(collection, metrics, { address: options.api ?? '127.0.0.1:8474', token: options.token });
    }
  } catch (err) {
    collection.closeAll();
    throw err;
  }
  return {
    apiUrl: api?.url,
    proxy: (name) => collection.find(name),
    list: () => collection.list(),
    addProxy: (config) => collection.create(config),
    removeProxy: (name) => collection.remove(name),
    reset: () => collection.reset(),
    stats: () => collection.list().map((p) => p.stats()),
    metrics: () => metrics.text(),
    close: async () => {
      await api?.close();
      collection.closeAll();
      metrics.close();
    },
  };
}

export type { ProxyHandle, ProxyJson, ProxyStats };
