import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createNetns } from '../../src/kernel/netns.ts';
import { has, streamCli } from './live.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !has('bpftrace') || !has('python3') ? 'needs bpftrace and python3' : false;

// A listener that accepts and keeps its connections; on a line of stdin, one client connects to it.
const SERVER = `import socket,sys,threading
port=int(sys.argv[1])
s=socket.socket(); s.bind(('127.0.0.1',port)); s.listen(8)
held=[]
def loop():
    while True:
        c,_=s.accept(); held.append(c)
threading.Thread(target=loop,daemon=True).start()
print('ready',flush=True)
for line in sys.stdin:
    c=socket.create_connection(('127.0.0.1',port)); held.append(c)
    print(c.getsockname()[1],flush=True)
`;

test('the same port in two namespaces: listeners from before the trace keep their own owners for the sockets they accept', {
  skip,
}, async () => {
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const spaces = [createNetns('tcplens-test-own-a'), createNetns('tcplens-test-own-b')];
  const servers = spaces.map((ns) =>
    spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', SERVER, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = servers.map((s) => createInterface({ input: s.stdout! }));
  // The listeners exist before the trace starts: their owners come from the namespaces' tables.
  await Promise.all(lines.map((l) => once(l, 'line')));
  const cli = streamCli(['trace', '--json', '--events', 'state', '--port', String(port)]);
  try {
    await cli.waitFor((l) => l.type === 'start', 90_000);
    const clients: number[] = [];
    for (const [i, s] of servers.entries()) {
      s.stdin!.write('go\n');
      clients.push(Number(((await once(lines[i]!, 'line')) as [string])[0]));
    }
    for (const [i, client] of clients.entries()) {
      await cli.waitFor(
        (l) => l.type === 'state' && l.oldState === 'LISTEN' && l.newState === 'SYN_RECV' && l.dport === client,
        20_000,
      );
      const accepted = cli.lines.find(
        (l) => l.oldState === 'LISTEN' && l.newState === 'SYN_RECV' && l.dport === client,
      )!;
      assert.equal(accepted.pid, servers[i]!.pid, `namespace ${i}: its own listener's owner`);
      assert.equal(accepted.sport, port);
    }
    assert.equal(await cli.stop(), 0, cli.stderr());
  } finally {
    await cli.stop('SIGKILL');
    for (const s of servers) s.kill('SIGKILL');
    for (const ns of spaces) ns.close();
  }
});
