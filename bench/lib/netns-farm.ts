// Commands run inside a benchmark's network namespace, and the Python farm that fills accept queues
// there: shared by the exporter's benchmarks.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A listener with a huge backlog that never accepts, and N clients connected to it: 2N ESTABLISHED
 * sockets for N descriptors, which stay (unlike TIME_WAIT). Bounded in count and in time (100 s);
 * prints "port count" when ready and holds its sockets until stdin closes. Python, because Node
 * always accepts and so cannot hold a queue.
 */
export const QUEUE_FARM = `
import socket, sys, time
n = int(sys.argv[1]); deadline = time.time() + 100
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(65535)
port = l.getsockname()[1]; held = []
while len(held) < n and time.time() < deadline:
    c = socket.socket(); c.connect(('127.0.0.1', port)); held.append(c)
print(port, len(held), flush=True)
sys.stdin.read()
`;

export interface NamespaceShell {
  /** argv that runs a bash command line inside the namespace. */
  argv(cmd: string): string[];
  /** Starts a command there; resolves with its first line of output (120 s at most). */
  start(cmd: string, env?: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; line: string }>;
  /** Runs a command line there and returns its output. */
  run(cmd: string): string;
}

/** Commands inside the namespace `name`; what `start` starts is pushed on `children` for the caller to kill. */
export function namespaceShell(name: string, children: ChildProcess[]): NamespaceShell {
  const argv = (cmd: string) => ['nsenter', `--net=/run/netns/${name}`, 'bash', '-c', cmd];
  return {
    argv,
    start(cmd, env = process.env) {
      const a = argv(`exec ${cmd}`);
      const child = spawn(a[0]!, a.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env });
      children.push(child);
      return new Promise((resolve, reject) => {
        const rl = createInterface({ input: child.stdout! });
        rl.once('line', (line) => resolve({ child, line }));
        child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
        setTimeout(() => reject(new Error(`${cmd}: not ready in 120 s`)), 120_000).unref();
      });
    },
    run(cmd) {
      const a = argv(cmd);
      return spawnSync(a[0]!, a.slice(1), { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout;
    },
  };
}
