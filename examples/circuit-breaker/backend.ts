// The called service ("inventory"): GET /stock/:id answers a small JSON document after a little work.
// Run alone: node backend.ts [port]

import { createServer, type Server } from 'node:http';
import { once } from 'node:events';

export interface Backend {
  url: string;
  requests(): number;
  close(): Promise<void>;
}

export async function startBackend(port = 0, host = '127.0.0.1'): Promise<Backend> {
  let served = 0;
  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    served++;
    const id = /^\/stock\/(\w+)/.exec(req.url ?? '')?.[1] ?? 'none';
    const body = JSON.stringify({ id, stock: id.length * 7, source: 'backend' });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.listen(port, host);
  await once(server, 'listening');
  const bound = server.address() as { port: number };
  return {
    url: `http://${host}:${bound.port}`,
    requests: () => served,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

if (import.meta.main) {
  const b = await startBackend(Number(process.argv[2] ?? 8080));
  console.log(`inventory backend on ${b.url}`);
}
