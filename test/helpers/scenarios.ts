// Creates known TCP sockets on loopback — ESTABLISHED, TIME_WAIT, CLOSE_WAIT, a full accept queue —
// and returns a handle that closes them all.

import { after, before } from 'node:test';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { ssSockets } from './ss.ts';
import { killOnExit } from './children.ts';

export interface Scenario {
  host: string;
  ports: { established: number; timeWait: number; closeWait: number; fullQueue: number };
  counts: { established: number; timeWait: number; closeWait: number; queued: number; backlog: number };
  close(): Promise<void>;
}

async function listen(server: Server, host: string): Promise<number> {
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function connected(host: string, port: number): Promise<Socket> {
  const s = connect({ host, port });
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

/** A listener that never accepts, with listen(backlog): Node always accepts, so Python holds it. */
async function fullListener(host: string, backlog: number): Promise<{ port: number; child: ChildProcess }> {
  const family = host.includes(':') ? 'AF_INET6' : 'AF_INET';
  const code = `import socket,sys,time
s=socket.socket(socket.${family},socket.SOCK_STREAM)
s.bind((${JSON.stringify(host)},0))
s.listen(${backlog})
print(s.getsockname()[1],flush=True)
time.sleep(120)`;
  const child = killOnExit(spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { port: Number(line), child };
}

export async function createScenario(
  host: string,
  n = { established: 5, timeWait: 4, closeWait: 3, queued: 4, backlog: 1 },
): Promise<Scenario> {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  const children: ChildProcess[] = [];
  const close = async () => {
    for (const s of sockets) s.destroy();
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  };
  try {
    // ESTABLISHED: clients and the server's accepted sockets, both held open.
    const estab = createServer((s) => sockets.push(s.on('error', () => {})));
    servers.push(estab);
    const estabPort = await listen(estab, host);
    for (let i = 0; i < n.established; i++) sockets.push(await connected(host, estabPort));

    // TIME_WAIT: the client closes first; the server answers the FIN at once (allowHalfOpen false).
    const tw = createServer((s) => s.on('error', () => {}).resume());
    servers.push(tw);
    const twPort = await listen(tw, host);
    for (let i = 0; i < n.timeWait; i++) {
      const s = await connected(host, twPort);
      s.end();
      await once(s, 'close');
    }

    // CLOSE_WAIT: the client closes, the server (half-open allowed) never does.
    const cw = createServer({ allowHalfOpen: true }, (s) => sockets.push(s.on('error', () => {}).resume()));
    servers.push(cw);
    const cwPort = await listen(cw, host);
    for (let i = 0; i < n.closeWait; i++) {
      const s = await connected(host, cwPort);
      sockets.push(s);
      s.end();
    }

    // A full accept queue: backlog 1 holds backlog + 1 connections, the rest wait in SYN_SENT.
    const full = await fullListener(host, n.backlog);
    children.push(full.child);
    for (let i = 0; i < n.queued; i++) {
      const s = connect({ host, port: full.port });
      s.on('error', () => {});
      sockets.push(s);
    }
    // Let FINs and handshakes settle: at least 300 ms, and until ss sees every CLOSE_WAIT and the
    // full queue (bounded, generously: a busy machine is slow, not wrong).
    await new Promise((r) => setTimeout(r, 300));
    const settled = () => {
      const ss = ssSockets();
      const closeWait = ss.filter((x) => x.state === 'CLOSE_WAIT' && x.local === `${host}:${cwPort}`).length;
      const queue = ss.find((x) => x.state === 'LISTEN' && x.local === `${host}:${full.port}`)?.recvQ;
      return closeWait === n.closeWait && queue === Math.min(n.queued, n.backlog + 1);
    };
    for (let i = 0; i < 300 && !settled(); i++) await new Promise((r) => setTimeout(r, 100));
    return {
      host,
      ports: { established: estabPort, timeWait: twPort, closeWait: cwPort, fullQueue: full.port },
      counts: n,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The default scenario on `host` for the enclosing describe: created before its tests, closed after
 * them. `ports` holds the scenario's listening ports, to pick its sockets out of a whole table.
 */
export function scenarioPerSuite(host: string): { readonly sc: Scenario; readonly ports: Set<number> } {
  const suite = {} as { sc: Scenario; ports: Set<number> };
  before(async () => {
    suite.sc = await createScenario(host);
    suite.ports = new Set(Object.values(suite.sc.ports));
  });
  after(() => suite.sc?.close());
  return suite;
}
