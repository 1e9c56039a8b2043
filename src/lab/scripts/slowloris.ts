// E5's client for the slowloris part: normal requests at a steady rate, alone and then beside a
// crowd of connections that send their request head a byte at a time. Prints one JSON line.
//
// argv[2]: {"url","rate","baselineMs","crowdMs","crowd","byteIntervalMs"}

import { Agent, request } from 'node:http';
import { Socket } from 'node:net';
import { percentileOfSorted } from '../../text/percentile.ts';

interface Config {
  url: string;
  /** Normal requests per second, on a fixed schedule. */
  rate: number;
  baselineMs: number;
  crowdMs: number;
  /** Slow connections in the crowd. */
  crowd: number;
  byteIntervalMs: number;
}

/** Normal requests of one phase. */
export interface Latency {
  requests: number;
  errors: number;
  errorCodes: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** What this script prints (E5 reads it). */
export interface SlowlorisResult {
  baseline: Latency;
  /** Normal requests that started while some of the crowd was still connected. */
  withCrowd: Latency;
  crowd: {
    size: number;
    closedByServer: number;
    got408: number;
    stillOpenAtEnd: number;
    /** From each connection's connect to its close by the server. */
    lifetimeMs: { min: number; p50: number; max: number };
    bytesSentMean: number;
    /** [ms since the crowd began to connect, connections still open]. */
    timeline: [number, number][];
  };
  /** [ms since the crowd began to connect (negative: before), slowest normal request of those 100 ms]. */
  latencyTimeline: [number, number][];
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const target = new URL(config.url);
const host = target.hostname;
const port = Number(target.port);
// The normal clients reuse connections, as a well-behaved client does.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

interface Sample {
  startMs: number;
  latencyMs: number;
  error?: string;
}

function get(path: string): Promise<{ latencyMs: number; error?: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request({ host, port, path, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          latencyMs: performance.now() - t0,
          ...(res.statusCode === 200 ? {} : { error: `HTTP ${res.statusCode}` }),
        }),
      );
    });
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ latencyMs: performance.now() - t0, error: err.code ?? err.message }),
    );
    req.end();
  });
}

/** Requests at `rate` per second for durationMs; latency from each request's own start. */
async function steady(durationMs: number, t0: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const intervalMs = 1000 / config.rate;
  const start = performance.now();
  for (let i = 0; ; i++) {
    const due = start + i * intervalMs;
    if (due - start >= durationMs) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const startMs = performance.now() - t0;
    pending.push(get('/').then((r) => void samples.push({ startMs, ...r })));
  }
  await Promise.all(pending);
  return samples;
}

interface SlowConnection {
  socket: Socket;
  openedMs: number;
  closedMs?: number;
  connected: boolean;
  /** The server answered 408 Request Timeout before closing. */
  got408: boolean;
  bytesSent: number;
}

/** The crowd: each connection sends a request line and then one header byte per interval, forever. */
function startCrowd(t0: number): { conns: SlowConnection[]; stop(): void } {
  const conns: SlowConnection[] = [];
  for (let i = 0; i < config.crowd; i++) {
    // The crowd trickles in over one byte interval, as an attack's connections do, not as one burst.
    const socket = new Socket();
    setTimeout(() => socket.connect({ host, port }), (config.byteIntervalMs * i) / config.crowd);
    const c: SlowConnection = {
      socket,
      openedMs: performance.now() - t0,
      connected: false,
      got408: false,
      bytesSent: 0,
    };
    socket.on('connect', () => {
      c.connected = true;
      c.openedMs = performance.now() - t0;
      const head = 'GET / HTTP/1.1\r\nHost: lab\r\nX-Slow: ';
      socket.write(head);
      c.bytesSent += head.length;
    });
    socket.on('data', (d: Buffer) => {
      if (d.toString('latin1', 0, 12).includes(' 408')) c.got408 = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => (c.closedMs ??= performance.now() - t0));
    conns.push(c);
  }
  const timer = setInterval(() => {
    for (const c of conns) {
      if (c.connected && c.closedMs === undefined && c.socket.writable) {
        c.socket.write('a');
        c.bytesSent++;
      }
    }
  }, config.byteIntervalMs);
  return {
    conns,
    stop() {
      clearInterval(timer);
      for (const c of conns) c.socket.destroy();
    },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

function summary(samples: Sample[]): Latency {
  const ok = samples
    .filter((s) => !s.error)
    .map((s) => s.latencyMs)
    .sort((a, b) => a - b);
  const errors: Record<string, number> = {};
  for (const s of samples) if (s.error) errors[s.error] = (errors[s.error] ?? 0) + 1;
  return {
    requests: samples.length,
    errors: samples.length - ok.length,
    errorCodes: errors,
    p50Ms: round(percentileOfSorted(ok, 50)),
    p99Ms: round(percentileOfSorted(ok, 99)),
    maxMs: round(ok.at(-1) ?? 0),
  };
}

const t0 = performance.now();
// Warm the normal clients' connections so that neither phase pays for them.
await Promise.all(Array.from({ length: 4 }, () => get('/')));
const baseline = await steady(config.baselineMs, t0);

const crowdStartMs = performance.now() - t0;
const crowd = startCrowd(t0);
const timeline: [number, number][] = [];
const sampler = setInterval(() => {
  timeline.push([
    Math.round(performance.now() - t0 - crowdStartMs),
    crowd.conns.filter((c) => c.closedMs === undefined).length,
  ]);
}, 50);
const during = await steady(config.crowdMs, t0);
clearInterval(sampler);
const stillOpen = crowd.conns.filter((c) => c.closedMs === undefined).length;
const closedByServer = crowd.conns.filter((c) => c.closedMs !== undefined);
// Normal requests that started while some of the crowd still held a connection.
const lastCloseMs = closedByServer.length ? Math.max(...closedByServer.map((c) => c.closedMs!)) : Infinity;
const whileOpen = stillOpen > 0 ? during : during.filter((s) => s.startMs <= lastCloseMs);
crowd.stop();
agent.destroy();

// The slowest normal request of each 100 ms, around the crowd's arrival and its cut.
const buckets = new Map<number, number>();
for (const x of [...baseline, ...during]) {
  const b = Math.floor((x.startMs - crowdStartMs) / 100) * 100;
  buckets.set(b, Math.max(buckets.get(b) ?? 0, x.latencyMs));
}
const latencyTimeline = [...buckets].sort((a, b) => a[0] - b[0]).map(([t, v]): [number, number] => [t, round(v)]);
const lifetimes = closedByServer.map((c) => c.closedMs! - c.openedMs).sort((a, b) => a - b);
const result: SlowlorisResult = {
  baseline: summary(baseline),
  withCrowd: summary(whileOpen),
  crowd: {
    size: config.crowd,
    closedByServer: closedByServer.length,
    got408: crowd.conns.filter((c) => c.got408).length,
    stillOpenAtEnd: stillOpen,
    lifetimeMs: {
      min: round(lifetimes[0] ?? 0),
      p50: round(percentileOfSorted(lifetimes, 50)),
      max: round(lifetimes.at(-1) ?? 0),
    },
    bytesSentMean: round(crowd.conns.reduce((a, c) => a + c.bytesSent, 0) / Math.max(1, crowd.conns.length)),
    timeline,
  },
  latencyTimeline,
};
process.stdout.write(JSON.stringify(result) + '\n');
