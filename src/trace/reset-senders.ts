// Bench's --trace: the resets on one port during a run, by whose socket sent them (the client's end
// has the port as its remote, the server's as its local), the kernel's reason and the socket's state.

import type { TracedReset, TracedResets } from '../model/bench-result.ts';
import type { TraceEvent } from './event.ts';

export interface ResetSenderCounts {
  add(e: TraceEvent): void;
  result(lostEvents: number): TracedResets;
}

/** Counts of resets on `port` by sender, reason and state. Pure. */
export function createResetSenderCounts(port: number): ResetSenderCounts {
  const sent = new Map<string, TracedReset>();
  let receivedByClient = 0;
  return {
    add(e) {
      if (e.type === 'reset-received' && e.dport === port) receivedByClient++;
      if (e.type !== 'reset-sent') return;
      const sender = e.sport === port ? 'server' : e.dport === port ? 'client' : undefined;
      if (!sender) return;
      const reason = e.reason ?? 'unknown';
      const key = `${sender} ${reason} ${e.oldState ?? ''}`;
      const c = sent.get(key);
      if (c) c.count++;
      else sent.set(key, { sender, reason, state: e.oldState, count: 1 });
    },
    result: (lostEvents) => ({
      sent: [...sent.values()].sort((a, b) => b.count - a.count),
      receivedByClient,
      lostEvents,
    }),
  };
}

export interface ResetSenders {
  /** Stop tracing; what was seen since the start. */
  stop(): Promise<TracedResets>;
}

/**
 * Start tracing resets on `port` (bpftrace, root); resolves once the probes are attached. Rejects
 * with the trace's typed error (not root, no bpftrace) for the caller to say in one line.
 */
export async function startResetSenders(port: number, notice?: (text: string) => void): Promise<ResetSenders> {
  const { startTrace } = await import('./trace.ts');
  const counts = createResetSenderCounts(port);
  const handle = await startTrace(
    { events: ['reset'], ports: [port], fallback: 'never' },
    { event: (e) => counts.add(e), notice },
  );
  return {
    async stop() {
      await handle.close();
      return counts.result(handle.lostEvents() + handle.missedEvents());
    },
  };
}
