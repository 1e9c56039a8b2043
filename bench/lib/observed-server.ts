// A minimal node:http server, bare or with the connection observer attached, for bench/observer.ts.
//   node bench/lib/observed-server.ts bare|observed
import { createServer } from 'node:http';
import { observeConnections } from '../../src/serve/conn-state.ts';

const mode = process.argv[2];
const body = Buffer.from('hello world\n');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
if (mode === 'observed') observeConnections(server);
server.listen(0, '127.0.0.1', () => console.log((server.address() as { port: number }).port));
process.on('SIGTERM', () => process.exit(0));
