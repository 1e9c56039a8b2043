// What the dashboard tests need around them: the page built, a browser (Debian's chromium, never a
// download), and sockets in known states on loopback.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'node:http';
import assert from 'node:assert/strict';
import type { BenchResult } from '../../src/model/bench-result.ts';
import { runCli } from '../helpers/cli.ts';
import { httpServer } from '../helpers/servers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Build web/ into dist/web with Vite when the build is missing or older than its sources. */
export function ensureWebBuilt(): void {
  const index = join(ROOT, 'dist/web/index.html');
  if (
    existsSync(index) &&
    statSync(index).mtimeMs >=
      Math.max(newest(join(ROOT, 'web')), statSync(join(ROOT, 'src/observe/dashboard-protocol.ts')).mtimeMs)
  )
    return;
  // Vite runs under the Node that runs the tests (>= 22; the system's may be older).
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'web/vite.config.ts')],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

export { launchBrowser, type Browser } from '../helpers/browser.ts';

/** A loopback server and `n` connections to it that the client closes first: n TIME_WAIT on the client side. */
export async function clientTimeWait(n: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((s) => s.on('error', () => {}).resume());
  server.listen({ host: '127.0.0.1', port: 0, backlog: 512 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const one = async () => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    await once(s, 'connect');
    s.end();
    await once(s, 'close');
  };
  for (let done = 0; done < n; done += 25) await Promise.all(Array.from({ length: Math.min(25, n - done) }, one));
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * A listener that never accepts, with listen(backlog), and `clients` connections to it: the accept
 * queue fills (backlog + 1) and the rest overflow. Node always accepts, so Python holds the listener.
 */
export async function fullListener(backlog: number, clients: number): Promise<{ port: number; close(): void }> {
  const code = `import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
s.bind(('127.0.0.1',0))
s.listen(${backlog})
print(s.getsockname()[1],flush=True)
time.sleep(60)`;
  const child: ChildProcess = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const port = Number(line);
  const sockets: Socket[] = [];
  for (let i = 0; i < clients; i++) sockets.push(connect({ host: '127.0.0.1', port }).on('error', () => {}));
  return {
    port,
    close() {
      for (const s of sockets) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Answer {
  status: number;
  body: string;
}

/** POST a body to the dashboard's /api/bench. */
export function postBench(port: number, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/bench',
        method: 'POST',
        headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A real `bench --json` result of one run. */
export async function realRun(): Promise<BenchResult> {
  const target = await httpServer((_req, res) => res.end('ok'));
  try {
    const r = await runCli(['bench', target.url, '-c', '2', '-n', '300', '--json', '--no-kernel'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as BenchResult;
  } finally {
    await target.close();
  }
}

/** The largest real file: --compare of two runs of bench's longest duration (-d 86400), per-second histograms left out. */
export function largestRealFile(run: BenchResult): Buffer {
  const points = Array.from({ length: 86_400 }, (_, i) => ({ ...run.timeline[i % run.timeline.length]!, t: i + 1 }));
  const { timelineHistograms: _, ...rest } = run;
  return Buffer.from(
    JSON.stringify({
      runs: [
        { ...rest, timeline: points },
        { ...rest, mode: 'close', timeline: points },
      ],
    }),
  );
}

/** Run `f` and measure the longest this process's event loop stalled meanwhile. */
export async function withStallMs<T>(f: () => Promise<T>): Promise<{ value: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  try {
    return { value: await f(), stallMs };
  } finally {
    clearInterval(ticker);
  }
}
