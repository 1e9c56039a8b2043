// Runs lab experiments one after another, each in a context of its own that is closed on every
// exit path (return, throw, Ctrl-C, SIGTERM, SIGHUP), and gathers their results into one report.

import { release } from 'node:os';
import { UsageError } from '../errors.ts';
import type { Experiment, ExperimentId, ExperimentResult } from './experiment.ts';
import { createLabContext, type LabContextHandle } from './context.ts';
import { EXPERIMENTS, findExperiment } from './registry.ts';
import { removeStaleNamespaces } from './topology.ts';

export interface LabRunOptions {
  /** Experiment ids (E1…E9, any case); all of them when empty or absent. */
  ids?: string[];
  quick?: boolean;
  signal?: AbortSignal;
  /** Progress text while running (the CLI shows it on a TTY). */
  progress?: (text: string) => void;
  /** Called with each result as soon as its experiment ends. */
  onResult?: (r: ExperimentResult) => void;
  /**
   * Clean up on SIGINT/SIGTERM/SIGHUP and then exit as the signal would (default true). A library caller
   * that handles signals itself passes false and aborts `signal` instead.
   */
  handleSignals?: boolean;
}

export interface LabReport {
  tool: 'tcplens';
  kernel: string;
  root: boolean;
  quick: boolean;
  startedAt: string;
  durationMs: number;
  /** Namespaces of earlier, killed runs removed at the start. */
  staleRemoved: string[];
  /** Stopped by Ctrl-C, SIGTERM, SIGHUP or the caller's signal before every chosen experiment had run. */
  interrupted: boolean;
  /** Chosen experiments that never started because the run was interrupted. */
  notRun: ExperimentId[];
  experiments: ExperimentResult[];
}

export function selectExperiments(ids: string[] | undefined): Experiment[] {
  if (!ids || ids.length === 0) return [...EXPERIMENTS];
  const picked: Experiment[] = [];
  for (const id of ids) {
    const e = findExperiment(id);
    if (!e) throw new UsageError(`no experiment '${id}': choose from ${EXPERIMENTS.map((x) => x.id).join(' ')}`);
    if (!picked.includes(e)) picked.push(e);
  }
  // The catalogue's order, whatever order they were named in: E1 before E3.
  return EXPERIMENTS.filter((e) => picked.includes(e));
}

// SIGHUP: the terminal closed or the ssh session dropped; Node's default would exit at once, leaving
// the namespaces and the serve/proxy children behind.
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
const SIGNALS = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[];

/** A promise that rejects once signal aborts (at once if it already has); dispose() stops listening. */
function untilAborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('the lab run was interrupted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

export async function runLab(o: LabRunOptions = {}): Promise<LabReport> {
  const chosen = selectExperiments(o.ids);
  const quick = Boolean(o.quick);
  const root = process.getuid?.() === 0;
  const progress = o.progress ?? (() => {});
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort();
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (o.signal?.aborted) controller.abort();

  let current: LabContextHandle | undefined;
  const onExit = () => current?.closeSync();
  const onSignal = (sig: NodeJS.Signals) => {
    controller.abort();
    const ctx = current;
    // Cleanup first, with a bound on how long a deferred closer may take, then exit as the signal would.
    const finish = () => {
      ctx?.closeSync();
      process.exit(SIGNAL_EXIT[sig] ?? 1);
    };
    if (!ctx) finish();
    else void Promise.race([ctx.close(), new Promise((r) => setTimeout(r, 3_000))]).then(finish, finish);
  };
  const handleSignals = o.handleSignals !== false;
  process.on('exit', onExit);
  if (handleSignals) {
    for (const sig of SIGNALS) process.on(sig, onSignal);
  }

  const started = Date.now();
  const report: LabReport = {
    tool: 'tcplens',
    kernel: release(),
    root,
    quick,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    staleRemoved: root ? removeStaleNamespaces() : [],
    interrupted: false,
    notRun: [],
    experiments: [],
  };
  try {
    for (const e of chosen) {
      if (controller.signal.aborted) break;
      const t0 = Date.now();
      const base = { id: e.id, title: e.title, shows: e.shows, rows: [], charts: [], conclusion: '' };
      if (e.needsRoot && !root) {
        const r: ExperimentResult = {
          ...base,
          durationMs: 0,
          skippedWhy: `not run: ${e.needsRoot}`,
          conclusion: `Skipped without root: ${e.needsRoot}.`,
        };
        report.experiments.push(r);
        o.onResult?.(r);
        continue;
      }
      progress(`${e.id} ${e.title}`);
      const ctx = createLabContext({
        quick,
        signal: controller.signal,
        progress: (text) => progress(`${e.id} ${text}`),
      });
      current = ctx;
      let r: ExperimentResult;
      const stop = untilAborted(controller.signal);
      try {
        const running = e.run(ctx);
        // Interrupted, the run does not wait for the experiment (E4 sleeps through a wait loop), so that
        // the report of what ran is printed before the signal handler exits; what the experiment does
        // after its context is closed fails, and nobody listens.
        running.catch(() => {});
        const outcome = await Promise.race([running, stop.promise]);
        r = {
          ...base,
          ...outcome,
          id: e.id,
          title: e.title,
          shows: outcome.shows ?? e.shows,
          durationMs: Date.now() - t0,
        };
      } catch (err) {
        const interrupted = controller.signal.aborted;
        const msg = interrupted ? 'interrupted' : err instanceof Error ? err.message : String(err);
        const conclusion = interrupted
          ? 'No conclusion: the run was interrupted before this experiment ended.'
          : `No conclusion: the experiment failed (${msg}).`;
        r = { ...base, durationMs: Date.now() - t0, error: msg, conclusion };
      } finally {
        stop.dispose();
        await ctx.close();
        current = undefined;
      }
      report.experiments.push(r);
      o.onResult?.(r);
    }
  } finally {
    current?.closeSync();
    process.off('exit', onExit);
    if (handleSignals) {
      for (const sig of SIGNALS) process.off(sig, onSignal);
    }
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
  report.durationMs = Date.now() - started;
  report.interrupted = controller.signal.aborted;
  report.notRun = chosen.filter((e) => !report.experiments.some((r) => r.id === e.id)).map((e) => e.id);
  return report;
}
