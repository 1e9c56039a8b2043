// The two ends a proxy benchmark puts a proxy between, each in a process of its own: an HTTP
// target (nginx with one worker when installed, else a Node server), a bulk sender and a bulk
// receiver; and the little process plumbing they share.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const children: ChildProcess[] = [];
// SIGTERM, not SIGKILL: nginx's master stops its workers on it, and a killed master leaves them running.
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

/**
 * A child process, killed when this one exits. Its stdout is a pipe unless `stdout` is 'ignore': a
 * pipe nobody reads while this process waits (spawnSync) blocks a child that writes much to it.
 */
export function start(
  command: string,
  args: string[],
  stderr: 'inherit' | 'ignore' = 'inherit',
  stdout: 'pipe' | 'ignore' = 'pipe',
): ChildProcess {
  const c = spawn(command, args, { stdio: ['ignore', stdout, stderr] });
  children.push(c);
  return c;
}

export async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return port;
}

export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** The HTTP target: nginx with one worker, or a Node server in a child process. */
export async function startTarget(work: string): Promise<{ port: number; name: string }> {
  const port = await freePort();
  if (existsSync('/usr/sbin/nginx')) {
    writeFileSync(
      join(work, 'nginx.conf'),
      `worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  server { listen 127.0.0.1:${port}; location / { return 200 "hello\\n"; } } }\n`,
    );
    start('/usr/sbin/nginx', ['-p', work, '-c', join(work, 'nginx.conf')]);
    await waitForPort(port);
    return { port, name: 'nginx (1 worker, return 200)' };
  }
  const script = `require('http').createServer({keepAliveTimeout:60000},(q,s)=>s.end('hello\\n')).listen(${port},'127.0.0.1')`;
  start(process.execPath, ['-e', script]);
  await waitForPort(port);
  return { port, name: 'node http server' };
}

/** A process that sends `bytes` to each connection, then closes it; its port. */
export async function startSender(bytes: number): Promise<number> {
  const port = await freePort();
  const script =
    `const net=require('net');const chunk=Buffer.alloc(1<<20,0x5a);const total=${bytes};` +
    `net.createServer(s=>{s.on('error',()=>{});let sent=0;const pump=()=>{while(sent<total){const n=Math.min(chunk.length,total-sent);sent+=n;` +
    `if(!s.write(n===chunk.length?chunk:chunk.subarray(0,n)))return void s.once('drain',pump)}s.end()};pump()}).listen(${port},'127.0.0.1')`;
  start(process.execPath, ['-e', script]);
  await waitForPort(port);
  return port;
}

/**
 * Reads one connection through `port` to its end, in a process of its own, into one reused buffer:
 * the bytes, the milliseconds from connect to end, and how many reads it took.
 */
export async function receive(port: number): Promise<{ bytes: number; ms: number; reads: number }> {
  const script =
    `const net=require('net');const {performance}=require('perf_hooks');let got=0,reads=0;const t0=performance.now();` +
    `const c=net.connect({port:${port},host:'127.0.0.1',onread:{buffer:Buffer.allocUnsafe(1<<18),callback:(n)=>{got+=n;reads++}}});` +
    `c.on('end',()=>{process.stdout.write(JSON.stringify({bytes:got,ms:performance.now()-t0,reads}));process.exit(0)});c.on('error',e=>{console.error(e.message);process.exit(1)})`;
  const c = start(process.execPath, ['-e', script]);
  let out = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(c, 'exit')) as [number];
  if (code !== 0) throw new Error(`bulk receiver failed (exit ${code})`);
  return JSON.parse(out) as { bytes: number; ms: number; reads: number };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
