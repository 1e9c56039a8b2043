// The proxy server: a collection of proxies (Toxiproxy's ProxyCollection, with populate), the
// control API and the metrics around it. createProxyServer is the library's entry point.

import { ProxyCollection, type ProxyConfig } from './collection.ts';
import type { ProxyHandle, ProxyJson, ProxyStats } from './proxy.ts';

export { ProxyCollection, parseProxyInput, type ProxyConfig } from './collection.ts';

export interface ProxyServerOptions {
  /** The control API's 'host:port' (default '127.0.0.1:8474'); false for none. */
  api?: string | false;
  /** Required when the API binds anything but loopback; clients send `Authorization: Bearer <token>`. */
  token?: string;
  /** Proxies started before the promise resolves. */
  proxies?: ProxyConfig[];
  /** Client connections each proxy keeps open at once, unless it sets max_connections (default 10,000). */
  maxConnections?: number;
  /**
   * Threads that carry the proxies' connections, this one included (default: TCPLENS_PROXY_THREADS,
   * else 1). With more, each
   * proxy listens in every thread (SO_REUSEPORT) and the kernel spreads connections over them;
   * changes through the API are in effect in all of them when it answers, changes through a
   * ProxyHandle's synchronous methods once `settled()` resolves.
   */
  threads?: number;
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
  /** Resolves once every thread carries out the changes made so far (at once with one thread). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function createProxyServer(options: ProxyServerOptions = {}): Promise<ProxyServer> {
  const { MAX_THREADS, ProxyThreads, threadsFromEnv } = await import('./threads.ts');
  const threadCount = options.threads ?? threadsFromEnv() ?? 1;
  if (!Number.isInteger(threadCount) || threadCount < 1 || threadCount > MAX_THREADS)
    throw new RangeError(`threads must be a whole number from 1 to ${MAX_THREADS}, not ${threadCount}`);
  const threads = threadCount > 1 ? await ProxyThreads.start(threadCount - 1) : undefined;
  const collection = new ProxyCollection(options.maxConnections, threads);
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
    await threads?.close();
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
    settled: async () => {
      await threads?.settle();
    },
    close: async () => {
      await api?.close();
      collection.closeAll();
      metrics.close();
      await threads?.close();
    },
  };
}

export type { ProxyHandle, ProxyJson, ProxyStats };
