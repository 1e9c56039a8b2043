// Starting a trace: eBPF through bpftrace when the host allows it, else (if allowed) the /proc/net/tcp poller.

import { PermissionError, UsageError } from '../errors.ts';
import { BpftraceMissingError, startBpftrace, type BpftraceOptions } from './bpftrace.ts';
import type { TraceHandle, TraceSink } from './event.ts';
import { startPoll } from './poll.ts';

export interface StartTraceOptions extends BpftraceOptions {
  /** auto: poll when not root or bpftrace is missing (saying so); always: poll; never: those are errors. */
  fallback?: 'auto' | 'always' | 'never';
  /** Poll interval, ms (default 100). */
  intervalMs?: number;
}

export const DEFAULT_INTERVAL_MS = 100;

function poll(o: StartTraceOptions, sink: TraceSink, fallback: boolean): TraceHandle {
  if (o.events?.length && !o.events.includes('state')) {
    throw new UsageError(
      'sampling /proc/net/tcp sees only state changes, not resets or retransmits: add state to --events, or trace as root with bpftrace',
    );
  }
  // Asked for by name, they must not silently come out empty (the fallback's own notice says so already).
  const unseen = (o.events ?? []).filter((e) => e !== 'state');
  if (unseen.length && !fallback)
    sink.notice?.(`sampling /proc/net/tcp sees only state changes: no ${unseen.join(', ')} events will be reported`);
  return startPoll({ ...o, intervalMs: o.intervalMs ?? DEFAULT_INTERVAL_MS }, sink);
}

/** Start tracing; resolves when events are being captured. Close the handle to stop. */
export async function startTrace(o: StartTraceOptions, sink: TraceSink): Promise<TraceHandle> {
  const fallback = o.fallback ?? 'auto';
  if (fallback === 'always') return poll(o, sink, false);
  try {
    return await startBpftrace(o, sink);
  } catch (err) {
    if (fallback === 'never' || !(err instanceof PermissionError || err instanceof BpftraceMissingError)) throw err;
    const why =
      err instanceof PermissionError
        ? 'not root, so no eBPF'
        : 'bpftrace is not installed (apt-get install -y bpftrace)';
    sink.notice?.(
      `${why}: sampling /proc/net/tcp every ${o.intervalMs ?? DEFAULT_INTERVAL_MS} ms instead (states shorter than that, resets and retransmits are not seen)`,
    );
    return poll(o, sink, true);
  }
}
