// A long-running trace of drops and resets, counted by the kernel's reason: the exporter's and the
// dashboard's --ebpf. The label set stays bounded: the kernel's names only, the first maxReasons of
// each kind seen keep their own, the rest are summed as "other".

import { OTHER_REASON, UNKNOWN_REASON, type ReasonSource, type ReasonTotals } from '../model/reason-totals.ts';
import type { TraceEvent, TraceFilter } from './event.ts';

/** Distinct reasons of each kind (drops, resets sent) kept as labels of their own. */
export const DEFAULT_MAX_REASONS = 16;

export interface ReasonCounts {
  add(e: TraceEvent): void;
  totals(): ReasonTotals;
}

// The kernel's names are upper-case identifiers (TCP_LISTEN_OVERFLOW); anything else is no name of its enum.
const KERNEL_NAME = /^[A-Z][A-Z0-9_]*$/;

/** Counts of drops and resets by reason, capped at maxReasons labels per kind. Pure. */
export function createReasonCounts(maxReasons = DEFAULT_MAX_REASONS): ReasonCounts {
  const drops: Record<string, number> = {};
  const resetsSent: Record<string, number> = {};
  let labelsDrops = 0;
  let labelsSent = 0;
  let resetsReceived = 0;
  // A kernel that gives no reason (resets before Linux 6.10): "unknown", a label of its own outside the cap.
  const bump = (into: Record<string, number>, reason: string | undefined, labels: number): number => {
    let label = reason === undefined ? UNKNOWN_REASON : KERNEL_NAME.test(reason) ? reason : OTHER_REASON;
    if (!Object.hasOwn(into, label) && label !== OTHER_REASON && label !== UNKNOWN_REASON) {
      if (labels >= maxReasons) label = OTHER_REASON;
      else labels++;
    }
    into[label] = (into[label] ?? 0) + 1;
    return labels;
  };
  return {
    add(e) {
      if (e.type === 'drop') labelsDrops = bump(drops, e.reason, labelsDrops);
      else if (e.type === 'reset-sent') labelsSent = bump(resetsSent, e.reason, labelsSent);
      else if (e.type === 'reset-received') resetsReceived++;
    },
    totals: () => ({
      drops: { ...drops },
      resetsSent: { ...resetsSent },
      resetsReceived,
      lostEvents: 0,
      running: true,
    }),
  };
}

export interface ReasonTallyOptions extends Pick<TraceFilter, 'ports' | 'pids'> {
  maxReasons?: number;
}

export interface ReasonTally extends ReasonSource {
  /** Stop the trace and wait until bpftrace is gone. */
  close(): Promise<void>;
}

/**
 * Start tracing drops and resets for as long as the handle lives (bpftrace, root); resolves once
 * the probes are attached. Rejects with the trace's typed error (not root, no bpftrace, a kernel
 * without the tracepoints) for the caller to say in one line. `ended` hears of a trace that stops
 * on its own.
 */
export async function startReasonTally(
  o: ReasonTallyOptions = {},
  notice?: (text: string) => void,
  ended?: (why: string) => void,
): Promise<ReasonTally> {
  const { startTrace } = await import('./trace.ts');
  const counts = createReasonCounts(o.maxReasons);
  const handle = await startTrace(
    { events: ['reset', 'drop'], ports: o.ports, pids: o.pids, fallback: 'never' },
    { event: (e) => counts.add(e), notice },
  );
  let running = true;
  let closing = false;
  handle.done.then(
    () => {
      running = false;
    },
    (err: unknown) => {
      running = false;
      if (!closing) ended?.(err instanceof Error ? err.message : String(err));
    },
  );
  return {
    totals: () => ({ ...counts.totals(), lostEvents: handle.lostEvents() + handle.missedEvents(), running }),
    async close() {
      closing = true;
      await handle.close();
    },
  };
}
