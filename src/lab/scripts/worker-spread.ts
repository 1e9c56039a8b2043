// E6's client: load on each server with tcplens's bench (a new connection per request, and keep-alive
// unless quick), the one listener once more for the noise, then which worker serves each connection,
// read from serve's x-tcplens-worker header — for many short connections, and for a set of
// keep-alive connections held open together. All in one process: starting one per step costs more
// than the steps on a busy machine. Prints one JSON line.
//
// argv[2]: {"urls":[…],"benchS","quick","short","concurrency","held"}
// prints {"runs":[{"close","ka"?}…],"again":{"close","ka"?},"servers":[{"short","held","errors"}…]},
// where close and ka are {"perSecond","failed","p99Ms"}.

import { connect } from 'node:net';
import { runBench } from '../../bench/run.ts';

interface Config {
  urls: string[];
  benchS: number;
  quick: boolean;
  /** Short connections (one request each, Connection: close). */
  short: number;
  /** Of those, how many at once. */
  concurrency: number;
  /** Keep-alive connections opened together and held until all have answered. */
  held: number;
}

/** Which worker served how many connections, by serve's x-tcplens-worker header ('single' without one). */
export interface Spread {
  short: Record<string, number>;
  held: Record<string, number>;
  errors: number;
}

export interface Load {
  perSecond: number;
  failed: number;
  p99Ms: number;
}

/** What this script prints (E6 reads it): one entry per url, in order. */
export interface LoadResult {
  /** New connections per request; keep-alive too unless quick. */
  runs: { close: Load; ka?: Load }[];
  /** The first url once more, after the others: the noise. */
  again: { close: Load; ka?: Load };
  servers: Spread[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;

/** One request on a new connection; resolves with the worker that answered once it has. */
function ask(host: string, port: number, keepAlive: boolean): Promise<{ worker: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let head = '';
    let answered = false;
    s.setEncoding('latin1');
    s.on('connect', () =>
      s.write(`GET / HTTP/1.1\r\nHost: lab\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`),
    );
    s.on('data', (d: string) => {
      if (answered) return;
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      answered = true;
      // No header: a single server, not a worker.
      const worker = /^x-tcplens-worker:\s*(.+?)\r$/im.exec(head)?.[1] ?? 'single';
      resolve({ worker, close: () => s.destroy() });
      if (!keepAlive) s.end();
    });
    s.on('error', (err) => (answered ? undefined : reject(err)));
    s.setTimeout(10_000, () => s.destroy(new Error('no answer within 10 s')));
  });
}

const tally = (workers: string[]) => {
  const counts: Record<string, number> = {};
  for (const w of workers) counts[w] = (counts[w] ?? 0) + 1;
  return counts;
};

async function spread(url: string): Promise<Spread> {
  const target = new URL(url);
  const host = target.hostname;
  const port = Number(target.port);
  const shortWorkers: string[] = [];
  let next = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (next < config.short) {
        next++;
        try {
          shortWorkers.push((await ask(host, port, false)).worker);
        } catch {
          errors++;
        }
      }
    }),
  );
  const held = await Promise.all(
    Array.from({ length: config.held }, () => ask(host, port, true).catch(() => undefined)),
  );
  const heldWorkers = held.filter((h) => h !== undefined).map((h) => h.worker);
  for (const h of held) h?.close();
  errors += held.filter((h) => h === undefined).length;
  return { short: tally(shortWorkers), held: tally(heldWorkers), errors };
}

async function load(url: string, keepAlive: boolean): Promise<Load> {
  const r = await runBench({ url, connections: 32, durationS: config.benchS, keepAlive, workers: 1, kernel: false });
  return { perSecond: r.requests.perSecond, failed: r.requests.failed, p99Ms: r.latencyMs.p99 };
}

async function loads(url: string): Promise<{ close: Load; ka?: Load }> {
  const close = await load(url, false);
  return config.quick ? { close } : { close, ka: await load(url, true) };
}

const runs = [];
for (const url of config.urls) runs.push(await loads(url));
const again = await loads(config.urls[0]!);
const servers = [];
for (const url of config.urls) servers.push(await spread(url));
const result: LoadResult = { runs, again, servers };
process.stdout.write(JSON.stringify(result) + '\n');
