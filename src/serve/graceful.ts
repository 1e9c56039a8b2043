// Graceful shutdown of a node:http(s) server: stop accepting, close idle keep-alive connections,
// let requests in flight finish, destroy what remains at the deadline; report what happened.

import type { Server as HttpServer } from 'node:http';
import { observeConnections, observerOf } from './conn-state.ts';

export interface ShutdownResult {
  /** Connections that were idle (or had not sent a request yet) when shutdown began: closed at once. */
  closedIdle: number;
  /** Connections with a request in flight that finished it before the deadline. */
  drained: number;
  /** Connections still busy at the deadline, destroyed. */
  destroyed: number;
  durationMs: number;
  timedOut: boolean;
}

/**
 * Without an observer attached before the connections arrived, connections already open are
 * unknown to us: Node still closes them, but they are not counted.
 */
export function gracefulShutdown(server: HttpServer, { deadlineMs = 10_000 } = {}): Promise<ShutdownResult> {
  const observer = observerOf(server) ?? observeConnections(server);
  const started = performance.now();
  const before = observer.connections();
  const busy = new Set(before.filter((c) => c.state === 'active' || c.state === 'hijacked').map((c) => c.id));
  const closedIdle = before.length - busy.size;
  let drained = 0;

  return new Promise((resolve) => {
    let finished = false;
    const finish = (timedOut: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(sweeper);
      unsubscribe();
      const destroyed = timedOut ? busy.size : 0;
      if (timedOut) server.closeAllConnections();
      resolve({ closedIdle, drained, destroyed, durationMs: Math.round(performance.now() - started), timedOut });
    };
    // A busy connection that becomes idle has drained: close it now rather than wait for keepAliveTimeout.
    const unsubscribe = observer.onStateChange((conn) => {
      if (!busy.has(conn.id)) return;
      if (conn.state === 'idle' || conn.state === 'closed') {
        busy.delete(conn.id);
        drained++;
        if (conn.state === 'idle') server.closeIdleConnections();
        if (busy.size === 0 && observer.connections().length === 0) finish(false);
      }
    });
    // Responses finishing after close() may leave sockets idle between our checks.
    const sweeper = setInterval(() => server.closeIdleConnections(), 50);
    const timer = setTimeout(() => finish(true), deadlineMs);
    server.close(() => finish(false));
    server.closeIdleConnections();
  });
}
