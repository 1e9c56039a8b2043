// Doctor's --trace: drops and resets with the kernel's reasons during the window, counted by reason,
// local end and owner. Tracing happens here; the rules that read it are pure (analyze/doctor).

import type { ReasonCount, TraceEvidence } from '../analyze/doctor/snapshot.ts';
import type { TraceEvent } from './event.ts';

export interface TraceEvidenceOptions {
  port?: number;
  pid?: number;
}

export interface TraceEvidenceHandle {
  /** Stop tracing; the evidence of events whose kernel time lies within [fromMs, toMs]. */
  stop(fromMs: number, toMs: number): Promise<TraceEvidence>;
}

function key(e: TraceEvent): string {
  return `${e.reason}|${e.saddr}|${e.sport}|${e.pid ?? ''}|${e.type === 'drop' ? (e.where ?? '') : ''}`;
}

/** Count events by reason, local end, owner (and for drops the function that dropped them), most first. */
export function countReasons(events: Iterable<TraceEvent>): ReasonCount[] {
  const counts = new Map<string, ReasonCount>();
  for (const e of events) {
    const k = key(e);
    const c = counts.get(k);
    if (c) c.count++;
    else {
      const r: ReasonCount = { reason: e.reason ?? 'unknown', address: e.saddr, port: e.sport, count: 1 };
      if (e.pid !== null) r.pid = e.pid;
      if (e.comm !== null) r.process = e.comm;
      if (e.type === 'drop' && e.where) r.where = e.where;
      counts.set(k, r);
    }
  }
  return [...counts.values()].sort((a, b) => b.count - a.count);
}

/**
 * Start tracing drops and resets (bpftrace, root); resolves once the probes are attached. Rejects
 * with the typed error of the trace (not root, no bpftrace, no tracepoint) for the caller to report.
 */
export async function startTraceEvidence(
  o: TraceEvidenceOptions,
  notice?: (text: string) => void,
): Promise<TraceEvidenceHandle> {
  const { startTrace } = await import('./trace.ts');
  const events: TraceEvent[] = [];
  const MAX_EVENTS = 1_000_000;
  const handle = await startTrace(
    {
      events: ['reset', 'drop'],
      ports: o.port === undefined ? undefined : [o.port],
      pids: o.pid === undefined ? undefined : [o.pid],
      fallback: 'never',
    },
    {
      event(e) {
        if ((e.type === 'drop' && !e.noise) || e.type === 'reset-sent') {
          if (events.length < MAX_EVENTS) events.push(e);
        }
      },
      notice,
    },
  );
  const started = performance.now();
  return {
    async stop(fromMs, toMs) {
      await handle.close();
      const within = events.filter((e) => e.timeMs >= fromMs && e.timeMs <= toMs);
      return {
        durationS: Math.round((performance.now() - started) / 100) / 10,
        drops: countReasons(within.filter((e) => e.type === 'drop')),
        resetsSent: countReasons(within.filter((e) => e.type === 'reset-sent')),
        lostEvents: handle.lostEvents() + handle.missedEvents(),
      };
    },
  };
}
