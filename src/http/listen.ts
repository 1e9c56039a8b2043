// Listening where the user asked, or one line that says why not; the server keeps an 'error'
// listener afterwards so that a later error is logged instead of crashing the process.

import type { Server } from 'node:net';
import { UsageError } from '../errors.ts';
import { formatHostPort } from '../text/host-port.ts';

/** Listen, or throw a UsageError that names the address and the reason (in use, no such address, privileged port). */
export async function listenOrExplain(server: Server, host: string, port: number, backlog?: number): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is in use'
        : code === 'EADDRNOTAVAIL'
          ? 'no such address on this host'
          : code === 'EACCES'
            ? 'ports below 1024 need root'
            : (err as Error).message;
    throw new UsageError(`cannot listen on ${formatHostPort(host, port)}: ${why}`);
  }
  server.on('error', (err) => process.stderr.write(`tcplens: ${formatHostPort(host, port)}: ${err.message}\n`));
  return (server.address() as { port: number }).port;
}
