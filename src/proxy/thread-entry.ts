// A thread that carries proxies' connections for the main thread (threads.ts): it runs each proxy
// it is told to start, on the same address as the main thread's (SO_REUSEPORT), with copies of its
// toxics, counting into the proxy's shared memory at its own row. Messages are carried out one
// after the other, in the order posted.

import { parentPort, workerData } from 'node:worker_threads';
import { Proxy as OneProxy, type ProxyTls } from './proxy.ts';
import type { ToxicJson } from './toxic-set.ts';
import type { ProxyMode } from './toxics/index.ts';

export type ThreadMessage =
  | {
      op: 'start';
      id: number;
      name: string;
      /** The main thread's bound address. */
      listen: string;
      upstream: string;
      mode: ProxyMode;
      maxConnections: number;
      tls: ProxyTls;
      memory: SharedArrayBuffer;
      slots: number;
      toxics: { json: ToxicJson; counts: SharedArrayBuffer }[];
    }
  | { op: 'stop'; id: number }
  | { op: 'limit'; id: number; maxConnections: number }
  | { op: 'toxic'; id: number; kind: 'add' | 'update'; name: string; json: ToxicJson; counts: SharedArrayBuffer }
  | { op: 'toxic'; id: number; kind: 'remove'; name: string }
  | { op: 'sync'; seq: number }
  | { op: 'close' };

export type ThreadReply = { op: 'ready' } | { op: 'synced'; seq: number; failures: string[] };

const port = parentPort!;
const { slot, acks } = workerData as { slot: number; acks: Int32Array };
const proxies = new Map<number, OneProxy>();
let failures: string[] = [];
let queue: Promise<void> = Promise.resolve();

async function carryOut(m: ThreadMessage): Promise<void> {
  switch (m.op) {
    case 'start': {
      const p = new OneProxy(m.name, m.listen, m.upstream, m.mode, m.maxConnections, m.tls, {
        block: { memory: m.memory, slots: m.slots },
        slot,
      });
      for (const t of m.toxics) p.toxics.add(t.json, t.counts);
      await p.start();
      proxies.set(m.id, p);
      return;
    }
    case 'stop':
      proxies.get(m.id)?.stop();
      proxies.delete(m.id);
      return;
    case 'limit':
      await proxies.get(m.id)?.update({ maxConnections: m.maxConnections });
      return;
    case 'toxic': {
      // A proxy not running here gets its toxics as they are when it starts.
      const p = proxies.get(m.id);
      if (!p) return;
      if (m.kind === 'add') p.toxics.add(m.json, m.counts);
      else if (m.kind === 'update')
        p.toxics.update(m.name, {
          attributes: m.json.attributes,
          toxicity: m.json.toxicity,
          clients: m.json.clients ?? null,
        });
      else p.toxics.remove(m.name);
      return;
    }
    case 'sync':
      port.postMessage({ op: 'synced', seq: m.seq, failures } satisfies ThreadReply);
      failures = [];
      return;
    case 'close':
      for (const p of proxies.values()) p.stop();
      proxies.clear();
      // Listeners and sockets closed: nothing of this thread is left to wait for.
      process.exit(0);
  }
}

port.on('message', (m: ThreadMessage) => {
  queue = queue
    .then(() => carryOut(m))
    .catch((err: Error) => {
      failures.push(`proxy thread ${slot}: ${m.op}: ${err.message}`);
    })
    .finally(() => {
      // The main thread waits for this, blocked.
      if (m.op === 'toxic') {
        Atomics.add(acks, 0, 1);
        Atomics.notify(acks, 0);
      }
    });
});
port.postMessage({ op: 'ready' } satisfies ThreadReply);
