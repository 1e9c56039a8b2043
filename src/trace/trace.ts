// Starting a trace: state changes from the kernel's tracing ring buffer (tracefs) and the other events
// through bpftrace when the host allows it, else (if allowed) the /proc/net/tcp poller.

import { PermissionError, UnsupportedPlatformError, UsageError } from '../errors.ts';
import {
  BpftraceMissingError,
  ensureTracefs,
  hasKernelBtf,
  knownListeners,
  monoToEpochMs,
  readFormat,
  requireRoot,
  startBpftrace,
  type BpftraceOptions,
} from './bpftrace.ts';
import { DEFAULT_TRACE_EVENTS, type TraceHandle, type TraceSink } from './event.ts';
import { planEvents } from './kernel-support.ts';
import { mergeSources } from './merge.ts';
import { startPoll } from './poll.ts';
import { startTracefsStates, tracefsUnusable } from './tracefs-states.ts';

export interface StartTraceOptions extends BpftraceOptions {
  /** auto: poll when not root or bpftrace is missing (saying so); always: poll; never: those are errors. */
  fallback?: 'auto' | 'always' | 'never';
  /** Poll interval, ms (default 100). */
  intervalMs?: number;
  /** State changes from a tracefs instance when the host has one (default), or through bpftrace as the rest. */
  tracefs?: boolean;
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

/**
 * State changes from a private tracefs instance, read by us: the kernel records them for a fraction
 * of what a BPF program that hands each one to bpftrace, formatted as text, costs. The other events
 * come from bpftrace, merged in time order. Falls back to bpftrace alone, saying why in one line,
 * where tracefs cannot serve (no instances, a port asked for that listens in several namespaces).
 */
async function startKernelTrace(o: StartTraceOptions, sink: TraceSink): Promise<TraceHandle> {
  const events = o.events?.length ? o.events : DEFAULT_TRACE_EVENTS;
  if (!events.includes('state') || o.tracefs === false || process.env.TCPLENS_TRACEFS === '0')
    return startBpftrace(o, sink);
  if (process.platform !== 'linux')
    throw new UnsupportedPlatformError(`tracing needs Linux (this is ${process.platform})`);
  requireRoot();
  const root = ensureTracefs(sink.notice);
  const listeners = knownListeners(
    o.ports?.length || o.sports?.length ? [...(o.ports ?? []), ...(o.sports ?? [])] : undefined,
  );
  const why = tracefsUnusable(root, listeners.owned, o);
  if (why) {
    sink.notice?.(`state changes go through bpftrace: ${why}`);
    return startBpftrace({ ...o, listeners }, sink);
  }
  // What this kernel can give (drop and life events need BTF): said once here; bpftrace gets the rest.
  const plan = planEvents(events, { kfreeSkbFormat: readFormat(root, 'skb:kfree_skb'), btf: hasKernelBtf() });
  if (plan.notices.length) sink.notice?.(plan.notices.join('; '));
  const rest = plan.events.filter((e) => e !== 'state');
  if (rest.length === 0) {
    let states: TraceHandle;
    try {
      states = startTracefsStates({ ...o, root, listeners: listeners.owned }, sink);
    } catch (err) {
      sink.notice?.(`state changes go through bpftrace: ${(err as Error).message}`);
      return startBpftrace({ ...o, events: plan.events, listeners }, sink);
    }
    sink.listening?.(listeners.ports);
    return states;
  }
  // Both: bpftrace first (it takes seconds to attach), so that no state change comes before the trace starts.
  // One conversion of kernel times to wall-clock ones for both, or their events would not sort together.
  const clock = monoToEpochMs();
  const merged = mergeSources(sink);
  const others = await startBpftrace({ ...o, events: rest, monoToEpochMs: clock, listeners }, merged.sink);
  let states: TraceHandle;
  try {
    states = startTracefsStates({ ...o, root, listeners: listeners.owned, monoToEpochMs: clock }, merged.sink);
  } catch (err) {
    // bpftrace alone serves, as where tracefs is unusable: the probes it had are made again with state changes.
    await others.close();
    sink.notice?.(`state changes go through bpftrace: ${(err as Error).message}`);
    return startBpftrace({ ...o, events: plan.events, listeners }, sink);
  }
  merged.follow([others, states]);
  const done = Promise.all([others.done, states.done]).then(() => {});
  done.catch(() => {});
  // Either ending on its own ends the trace: stop the other so that the caller's close() returns.
  others.done.catch(() => states.close());
  states.done.catch(() => others.close());
  let closing: Promise<void> | undefined;
  return {
    backend: 'bpftrace',
    lostEvents: () => others.lostEvents() + states.lostEvents(),
    missedEvents: () => others.missedEvents() + states.missedEvents(),
    done,
    close: () =>
      (closing ??= (async () => {
        await Promise.all([others.close(), states.close()]);
        merged.drain();
        await done.catch(() => {});
      })()),
  };
}

/** Start tracing; resolves when events are being captured. Close the handle to stop. */
export async function startTrace(o: StartTraceOptions, sink: TraceSink): Promise<TraceHandle> {
  const fallback = o.fallback ?? 'auto';
  if (fallback === 'always') return poll(o, sink, false);
  try {
    return await startKernelTrace(o, sink);
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
