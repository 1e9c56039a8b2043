// The LabContext of one experiment: owns every namespace, process and deferred closer it hands out,
// and removes them all on close(), on failure and — through closeSync() — on a signal or exit.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LabContext, LabProcess, LabTopology, RunOptions } from './experiment.ts';
import { createTopology, type LabTopologyHandle } from './topology.ts';

export interface LabContextOptions {
  quick: boolean;
  signal?: AbortSignal;
  progress?: (text: string) => void;
}

export interface LabContextHandle extends LabContext {
  /** Runs deferred closers (newest first), stops every process, deletes every namespace. */
  close(): Promise<void>;
  /** What close() does that needs no waiting: for signal and exit handlers. */
  closeSync(): void;
}

interface Owned {
  pid: number;
  exited: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const GRACE_MS = 1_500;

/** argv prefix that runs this tcplens's CLI from the same build (sources or dist). */
export function tcplensArgv(): string[] {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return [process.execPath, fileURLToPath(new URL(`../cli/main${ext}`, import.meta.url))];
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  // A child that never started has no pid: kill(-1) or kill(1) would reach every process, or init.
  if (!(pid > 1)) return;
  try {
    // Each child leads its own process group, so workers and grandchildren go with it.
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

export function createLabContext(o: LabContextOptions): LabContextHandle {
  const signal = o.signal ?? new AbortController().signal;
  const topologies: LabTopologyHandle[] = [];
  const processes: Owned[] = [];
  const closers: (() => void | Promise<void>)[] = [];
  let closed = false;

  const spawnIn = (argv: string[], opts: RunOptions = {}): LabProcess & { owned: Owned } => {
    if (closed) throw new Error('the lab context is closed');
    if (signal.aborted) throw new Error('the lab run was interrupted');
    const full = opts.ns ? [...opts.ns.exec, ...argv] : argv;
    const child = spawn(full[0]!, full.slice(1), {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
    });
    const owned: Owned = { pid: child.pid ?? -1, exited: false };
    processes.push(owned);
    const lines: string[] = [];
    let stdout = '';
    let stderr = '';
    let partial = '';
    const waiters = new Set<() => void>();
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      partial += d;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      if (parts.length > 0) {
        lines.push(...parts);
        for (const w of waiters) w();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      // Bounded: a chatty child must not grow the lab's memory without end.
      if (stderr.length < 1 << 20) stderr += d;
    });
    const timer = setTimeout(() => killGroup(owned.pid, 'SIGKILL'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = () => killGroup(owned.pid, 'SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let settled = false;
      const finish = (code: number | null) => {
        if (settled) return;
        settled = true;
        owned.exited = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (partial) lines.push(partial), (partial = '');
        for (const w of waiters) w();
        resolve({ code, stdout, stderr });
      };
      child.on('error', (err) => {
        stderr += `${err.message}\n`;
        finish(null);
      });
      child.on('close', (code) => finish(code));
    });
    let exited = false;
    void done.then(() => (exited = true));
    const proc: LabProcess & { owned: Owned } = {
      pid: owned.pid,
      lines,
      owned,
      done,
      waitFor(pattern, timeoutMs = 10_000) {
        return new Promise((resolve, reject) => {
          let timer: NodeJS.Timeout | undefined;
          const check = () => {
            const hit = lines.find((l) => pattern.test(l));
            if (hit !== undefined) {
              cleanup();
              resolve(hit);
            } else if (exited || owned.exited) {
              cleanup();
              reject(
                new Error(
                  `${argv.slice(0, 3).join(' ')} … ended before printing ${pattern}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
                ),
              );
            }
          };
          const cleanup = () => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          timer = setTimeout(() => {
            cleanup();
            reject(
              new Error(
                `${argv.slice(0, 3).join(' ')} … printed nothing matching ${pattern} within ${timeoutMs} ms: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
              ),
            );
          }, timeoutMs);
          waiters.add(check);
          check();
        });
      },
      kill(sig = 'SIGTERM') {
        if (!owned.exited) killGroup(owned.pid, sig);
      },
    };
    return proc;
  };

  const ctx: LabContextHandle = {
    quick: o.quick,
    root: process.getuid?.() === 0,
    signal,
    progress: o.progress ?? (() => {}),
    tcplens: tcplensArgv(),
    async topology(): Promise<LabTopology> {
      if (closed) throw new Error('the lab context is closed');
      const t = createTopology();
      topologies.push(t);
      return t;
    },
    start(argv, opts) {
      return spawnIn(argv, opts);
    },
    async run(argv, opts) {
      const p = spawnIn(argv, opts);
      const r = await p.done;
      if (signal.aborted) throw new Error('the lab run was interrupted');
      return r;
    },
    defer(close) {
      closers.push(close);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const c of closers.splice(0).reverse()) {
        try {
          await Promise.race([c(), new Promise((r) => setTimeout(r, 5_000).unref())]);
        } catch {
          /* closing goes on whatever one closer does */
        }
      }
      const live = processes.filter((p) => !p.exited);
      for (const p of live) killGroup(p.pid, 'SIGTERM');
      const deadline = Date.now() + GRACE_MS;
      while (live.some((p) => !p.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      ctx.closeSync();
    },
    closeSync() {
      closed = true;
      for (const c of closers.splice(0).reverse()) {
        try {
          void Promise.resolve(c()).catch(() => {});
        } catch {
          /* as above */
        }
      }
      for (const p of processes) if (!p.exited) killGroup(p.pid, 'SIGKILL');
      for (const t of topologies.splice(0)) t.close();
    },
  };
  return ctx;
}
