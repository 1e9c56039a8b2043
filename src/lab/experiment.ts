// What a lab experiment is: one module per experiment, run against a context that owns every
// namespace and process it starts, returning measured rows and a conclusion computed from them.

import type { Netns } from '../kernel/netns.ts';

export type ExperimentId = 'E1' | 'E2' | 'E3' | 'E4' | 'E5' | 'E6' | 'E7' | 'E8' | 'E9';

export type Cell = string | number | boolean | null;

/** A chart of the report: bars by category, or lines over a numeric x. */
export interface LabChart {
  title: string;
  kind: 'bar' | 'line';
  xLabel: string;
  yLabel: string;
  series: { label: string; points: [x: number | string, y: number][] }[];
}

/** What an experiment's run returns; the runner adds id, title, shows and timing. */
export interface ExperimentOutcome {
  /** Measured rows, one object per configuration or step; numbers in the unit their key names. */
  rows: Record<string, Cell>[];
  charts: LabChart[];
  /** Computed from the rows: it must read differently when the numbers differ. */
  conclusion: string;
  /** Parts of the experiment left out, and why (no root, a missing tool). */
  skipped?: string[];
  /** What a null cell means in a column, where it is not plain "nothing measured" (goneAfterS: "not watched"). */
  blanks?: Record<string, string>;
  /** The description as this run did it, where it differs from the catalogue's (without root on loopback; --quick measuring less). */
  shows?: string;
  /** Keys kept in --json but left out of the tables: long wording the conclusion quotes, where a short label column says the same. */
  hidden?: string[];
}

export interface ExperimentResult extends ExperimentOutcome {
  id: ExperimentId;
  title: string;
  shows: string;
  durationMs: number;
  /** Set when the whole experiment did not run; rows are then empty. */
  skippedWhy?: string;
  /** Set when it failed; the message of what went wrong. */
  error?: string;
}

/** A client and a server namespace joined by a veth pair with addresses from 198.18.0.0/15. */
export interface LabTopology {
  client: Netns;
  server: Netns;
  clientAddress: string;
  serverAddress: string;
  /** Takes the link down (silently vanishing peer) or up again. */
  setLink(up: boolean): void;
}

export interface LabProcess {
  pid: number;
  /** stdout lines seen so far. */
  lines: string[];
  /** Resolves with the first stdout line matching, or rejects after timeoutMs / on exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process ends, with its exit code and all its output. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface RunOptions {
  /** Run inside this namespace (ip netns exec). */
  ns?: Netns;
  env?: Record<string, string>;
  /** Killed after this long; default 60 s. */
  timeoutMs?: number;
}

export interface LabContext {
  /** Each experiment at most ~5 s of measuring (tests use it). */
  quick: boolean;
  root: boolean;
  signal: AbortSignal;
  progress(text: string): void;
  /** argv prefix that runs this tcplens's own CLI: [node, path/to/cli/main]. */
  tcplens: string[];
  /** A fresh client/server namespace pair, closed by the runner on every exit path. Root only. */
  topology(): Promise<LabTopology>;
  /** Starts a long-running process (a server), killed by the runner at the end. */
  start(argv: string[], o?: RunOptions): LabProcess;
  /** Runs a process to its end (a bench), bounded in time. */
  run(argv: string[], o?: RunOptions): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Something else to close at the end, also on Ctrl-C, SIGTERM and failure. */
  defer(close: () => void | Promise<void>): void;
}

export interface Experiment {
  id: ExperimentId;
  title: string;
  /** One paragraph: what it shows and why it matters. */
  shows: string;
  /** What it needs that an unprivileged run lacks, when it cannot run at all without root. */
  needsRoot?: string;
  /** The parts that need root (namespaces, sysctls), in a few words; without root the rest runs on loopback. Undefined: all of it runs anywhere. */
  rootFor?: string;
  run(ctx: LabContext): Promise<ExperimentOutcome>;
}
