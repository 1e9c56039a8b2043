// E5's client for the keep-alive idle race: learns when the server really closes an idle
// connection, then reuses connections just around that moment with three clients side by side —
// one whose idle timeout is longer than the server's, one whose idle timeout is shorter, and
// tcplens's createPool — all idling for the same gaps. Prints one JSON line.
//
// argv[2]: {"url","lanes","rounds","spreadMs","stepMs","fixedIdleMs"}

import { Agent, request, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createPool } from '../../pool/pool.ts';
import { setTimeout as sleep } from 'node:timers/promises';

interface Config {
  url: string;
  /** Connections per client, each on its own schedule. */
  lanes: number;
  /** Requests per lane after an idle gap. */
  rounds: number;
  /** The lanes' gaps are spread evenly over ± this around the estimated edge of the race. */
  spreadMs: number;
  /** The first step of the edge estimate; later ones shrink. */
  stepMs: number;
  /** The fixed client's idle timeout: below the server's keepAliveTimeout. */
  fixedIdleMs: number;
}

/** What this script prints (E5 reads it). */
export interface RaceResult {
  /** When the server closed an idle connection, ms after its response. */
  serverIdleCloseMs: number;
  /** Where the race's edge ended up, as the clients saw it. */
  edgeMs: number;
  keepAliveHeader: string | null;
  /** Long idle timeout, short idle timeout, createPool. */
  clients: [ClientTally, ClientTally, ClientTally];
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const target = new URL(config.url);
const host = target.hostname;
const port = Number(target.port);

/**
 * An agent that keeps a connection for its own idle timeout only (none: for ever), whatever the
 * server's Keep-Alive hint says — as Go's http.Transport (IdleConnTimeout 90 s) and most load
 * balancers do. Node 24's Agent reads the hint, but only to shorten an idle timeout of its own (and
 * to refuse reuse when the hint is under a second): the hint-blind behaviour made explicit here.
 */
class HintBlindAgent extends Agent {
  override keepSocketAlive(socket: Socket): boolean {
    socket.setKeepAlive(true, 1000);
    socket.unref();
    const idleMs = (this as unknown as { options: { timeout?: number } }).options.timeout ?? 0;
    if (socket.timeout !== idleMs) socket.setTimeout(idleMs);
    return true;
  }
}

/** How long the server keeps an idle connection, measured, and the Keep-Alive header it sends. */
async function measureIdleClose(): Promise<{ closeMs: number; keepAliveHeader: string | null }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let head = '';
    let answeredAt = 0;
    s.setEncoding('latin1');
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: lab\r\n\r\n'));
    s.on('data', (d: string) => {
      if (!answeredAt) answeredAt = performance.now();
      head += d;
    });
    s.on('error', reject);
    s.on('close', () => {
      const m = /^keep-alive:\s*(.*)$/im.exec(head);
      resolve({ closeMs: performance.now() - answeredAt, keepAliveHeader: m ? m[1]!.trim() : null });
    });
    setTimeout(() => s.destroy(new Error('the server kept an idle connection over 30 s')), 30_000).unref();
  });
}

/** doneAt: when the response ended, which is when the connection began to idle. */
type Outcome = { error?: string; reused: boolean; doneAt?: number };

function agentGet(agent: Agent): Promise<Outcome> {
  return new Promise((resolve) => {
    let req: ClientRequest | undefined;
    req = request({ host, port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ reused: Boolean(req?.reusedSocket), doneAt: performance.now() }));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ error: err.code ?? err.message, reused: Boolean(req?.reusedSocket) }),
    );
    req.end();
  });
}

export interface ClientTally {
  client: string;
  requests: number;
  afterIdle: number;
  errors: number;
  errorCodes: Record<string, number>;
  /** Requests sent on a connection that had served one before. */
  reused: number;
  retries?: number;
}

function tally(client: string): ClientTally {
  return { client, requests: 0, afterIdle: 0, errors: 0, errorCodes: {}, reused: 0 };
}

function count(t: ClientTally, o: Outcome, afterIdle: boolean): void {
  t.requests++;
  if (afterIdle) t.afterIdle++;
  if (o.reused) t.reused++;
  if (o.error) {
    t.errors++;
    t.errorCodes[o.error] = (t.errorCodes[o.error] ?? 0) + 1;
  }
}

// Measured first, on a quiet client: the median of a few probes.
const probes = await Promise.all(Array.from({ length: 5 }, (_, i) => sleep(i * 15).then(measureIdleClose)));
const idle = probes.sort((a, b) => a.closeMs - b.closeMs)[2]!;

const blind = tally('idle timeout longer than the server’s');
const fixed = tally(`idle timeout ${config.fixedIdleMs} ms, below the server’s`);
const pooled = tally('tcplens createPool');

/** One connection of each client, each idling for the same gaps after its own response. */
function laneClients() {
  const blindAgent = new HintBlindAgent({ keepAlive: true, maxSockets: 1 });
  const fixedAgent = new HintBlindAgent({ keepAlive: true, maxSockets: 1, timeout: config.fixedIdleMs });
  const pool = createPool(target.origin, { connections: 1 });
  const poolGet = async (): Promise<Outcome> => {
    const reused = pool.stats().connected > 0;
    try {
      const r = await pool.request({ path: '/' });
      await r.body.text();
      return { reused, doneAt: performance.now() };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, reused };
    }
  };
  return {
    sends: [() => agentGet(blindAgent), () => agentGet(fixedAgent), poolGet],
    retries: () => pool.stats().retries,
    close: async () => {
      blindAgent.destroy();
      fixedAgent.destroy();
      await pool.close();
    },
  };
}

/**
 * Where the race's edge is, as the client sees it: the idle gap after which the client finds the
 * connection already closed (it saw the server's FIN) instead of reusing it. It moves with load — a
 * busy client learns of the FIN late — so every lane's outcome nudges one shared estimate, by steps
 * that shrink (a stochastic approximation of the gap that finds the connection open half the time):
 * later after a reuse that worked, earlier after finding the connection gone, unmoved by a failure.
 */
const edge = { ms: idle.closeMs, updates: 0 };
function learn(o: Outcome): void {
  // A failure is the race itself: the gap is right, stay.
  if (o.error && o.reused) return;
  const step = Math.max(0.5, config.stepMs / Math.sqrt(1 + edge.updates++));
  edge.ms += o.reused ? step : -step;
}

/**
 * One lane: for each client, a request, then `rounds` times an idle gap near the edge and a request.
 * All lanes run at once, as a client under load does: a busy event loop notices the server's FIN
 * late, and a request sent in between meets a closed connection — the window the race needs.
 */
async function lane(i: number): Promise<number> {
  const c = laneClients();
  const offsetMs = -config.spreadMs + (2 * config.spreadMs * (i + 0.5)) / config.lanes;
  await Promise.all(
    c.sends.map(async (send, j) => {
      const t = [blind, fixed, pooled][j]!;
      let o = await send();
      count(t, o, false);
      // Each gap starts when the client's own response ended: that is when its connection idles.
      let idleSince = o.doneAt ?? performance.now();
      for (let k = 0; k < config.rounds; k++) {
        await sleep(Math.max(0, edge.ms + offsetMs - (performance.now() - idleSince)));
        o = await send();
        idleSince = o.doneAt ?? performance.now();
        count(t, o, true);
        // Only the long-idle client shows where the edge is: the others never wait for it.
        if (j === 0) learn(o);
      }
    }),
  );
  const retries = c.retries();
  await c.close();
  return retries;
}

const retries = await Promise.all(Array.from({ length: config.lanes }, (_, i) => lane(i)));
pooled.retries = retries.reduce((a, b) => a + b, 0);

const result: RaceResult = {
  serverIdleCloseMs: Math.round(idle.closeMs),
  edgeMs: Math.round(edge.ms),
  keepAliveHeader: idle.keepAliveHeader,
  clients: [blind, fixed, pooled],
};
process.stdout.write(JSON.stringify(result) + '\n');
