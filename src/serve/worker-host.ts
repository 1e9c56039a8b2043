// What runs inside each worker (thread or cluster process): build the server from the user's
// module, listen when told, report requests, shut down gracefully when told.

import type { Server as HttpServer } from 'node:http';
import { gracefulShutdown } from './graceful.ts';
import { observeConnections } from './conn-state.ts';

interface Port {
  postMessage(m: unknown): void;
  on(e: 'message', f: (m: Record<string, unknown>) => void): unknown;
}

export async function hostWorker(channel: Port, init: { module: string; data: unknown }): Promise<void> {
  const mod = (await import(init.module)) as { default: (data: unknown) => HttpServer | Promise<HttpServer> };
  const server = await mod.default(init.data);
  observeConnections(server);
  let requests = 0;
  server.on('request', () => requests++);
  channel.on('message', (m) => {
    if (m.type === 'listen') {
      server.once('error', (err) => channel.postMessage({ type: 'error', message: err.message }));
      server.listen(
        {
          host: m.host as string,
          port: m.port as number,
          backlog: m.backlog as number | undefined,
          reusePort: Boolean(m.reusePort),
        },
        () => {
          const addr = server.address();
          channel.postMessage({ type: 'listening', port: typeof addr === 'object' && addr ? addr.port : m.port });
        },
      );
    } else if (m.type === 'requests') {
      channel.postMessage({ type: 'requests', count: requests });
    } else if (m.type === 'close') {
      void gracefulShutdown(server, { deadlineMs: (m.deadlineMs as number) ?? 10_000 }).then(() =>
        channel.postMessage({ type: 'closed' }),
      );
    }
  });
  // Messages sent to a cluster process before it listens are lost: the primary waits for this.
  channel.postMessage({ type: 'ready' });
}
