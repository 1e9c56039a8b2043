// Helpers of the live trace tests: the CLI as a streaming child, tcpdump as the oracle of resets, small loopback servers.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { killOnExit } from '../helpers/children.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export function has(cmd: string): boolean {
  return (
    spawnSync('sh', ['-c', `command -v ${cmd}`], {
      stdio: 'ignore',
      env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
    }).status === 0
  );
}

export interface Streaming {
  child: ChildProcess;
  /** Parsed NDJSON lines of stdout so far. */
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves when some line satisfies pred (checked as lines arrive), rejects after timeoutMs. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<void>;
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Run `tcplens <args>` (with --json) and read its NDJSON as it comes. */
export function streamCli(args: string[], opts: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): Streaming {
  const argv = [...(opts.prefix ?? []), process.execPath, MAIN, ...args];
  const child = killOnExit(
    spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    lines,
    stderr: () => stderr,
    waitFor(pred, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (lines.some(pred)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching line within ${timeoutMs} ms; stderr: ${stderr.trim()}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`tcplens exited; stderr: ${stderr.trim()}`));
          }
        });
      });
    },
    async stop(signal = 'SIGINT', timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** tcpdump on lo, one line per packet; resolves once it is capturing. stop() gives the packet count. */
export async function tcpdump(filter: string, prefix: string[] = []): Promise<{ stop(): Promise<number> }> {
  // Stopped by stop(), or killed with the test process at the latest. prefix: ip netns exec NAME, say.
  const argv = [...prefix, 'tcpdump', '-i', 'lo', '-n', '-l', filter];
  const child = killOnExit(spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let packets = 0;
  let lastLineAt = Date.now();
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.trim()) packets++;
    lastLineAt = Date.now();
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`tcpdump exited: ${err}`)));
  });
  const closed = once(child, 'close');
  return {
    async stop() {
      // tcpdump drops what it has not read yet when interrupted: let it print what the kernel holds
      // first, until 300 ms pass without a line (at most 5 s).
      const asked = Date.now();
      while (child.exitCode === null && Date.now() - Math.max(lastLineAt, asked) < 300 && Date.now() - asked < 5_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await closed;
      return packets;
    },
  };
}

export async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on (bound for a moment, then released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  const port = await listen(s, host);
  await new Promise((r) => s.close(r));
  return port;
}

/** Connect, then let `then` act on the socket; resolves with the local port once the socket has closed. */
export async function connection(host: string, port: number, then: (s: Socket) => void): Promise<number> {
  const s = connect({ host, port });
  s.on('error', () => {});
  // Listen for close before anything can happen: a reset may close the socket right after connect.
  const closed = new Promise((resolve) => s.once('close', resolve));
  let local: number | undefined;
  s.once('connect', () => {
    local = s.localPort;
    then(s);
  });
  await closed;
  if (local === undefined) throw new Error(`the connection to port ${port} failed before it was established`);
  return local;
}

/** Connect to a port expected to refuse; resolves when it has. */
export async function refused(host: string, port: number): Promise<void> {
  const s = connect({ host, port });
  const [err] = (await once(s, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  if (err.code !== 'ECONNREFUSED') throw new Error(`expected ECONNREFUSED from port ${port}, got ${err.code}`);
}

/**
 * A Python server in its own process (its own pid): per connection, a first byte 'c' makes it close
 * first; end of stream makes it close after the client. A first byte 's' makes it fill the socket
 * (the client is expected not to read yet), shutdown(SHUT_WR) and close() 100 ms later: its FIN waits
 * behind the data, so close() finds the socket still in FIN_WAIT1, as Python's http.server's
 * shutdown-then-close does when the peer is slow.
 */
export async function pythonServer(): Promise<{ port: number; pid: number; close(): void }> {
  const code = `import socket,time
s=socket.socket()
s.bind(('127.0.0.1',0))
s.listen(64)
print(s.getsockname()[1],flush=True)
while True:
  c,_=s.accept()
  if c.recv(1)==b's':
    c.setblocking(False)
    try:
      while True: c.send(b'x'*65536)
    except BlockingIOError:
      pass
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.1)
  c.close()`;
  const child = killOnExit(spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { port: Number(line), pid: child.pid!, close: () => child.kill('SIGKILL') };
}

/** Sockets in TIME-WAIT, as ss lists them: "local peer" with IPv4-mapped addresses shown as IPv4. */
export function ssTimeWait(): Set<string> {
  const out = spawnSync('ss', ['-tanH', 'state', 'time-wait'], { encoding: 'utf8' }).stdout;
  const norm = (e: string) => e.replace(/^\[?::ffff:/, '').replace(/^\[(.*)\]/, '$1');
  // With a state filter ss leaves the State column out: Recv-Q Send-Q Local Peer.
  return new Set(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const f = l.trim().split(/\s+/);
        return `${norm(f[2]!)} ${norm(f[3]!)}`;
      }),
  );
}
