// The churn of short connections that bench/trace.ts and bench/trace-tcpstates.ts trace: a network
// namespace of its own, with bench/lib/trace-churn.ts's server and client in it, the client driven over
// its stdin (ping, go S N, quit; one reply line each).

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';

export interface ChurnNamespace {
  readonly ns: Netns;
  /** Sends `cmd` to the churn client: its reply line. */
  ask(cmd: string): Promise<string>;
  /** The churn's own processes (its server and client): their CPU includes the kernel's work for tracers that record in the churn's context. */
  readonly pids: readonly number[];
  /** Kills `child` too on close (and on SIGINT or SIGTERM). */
  track<T extends ChildProcess>(child: T): T;
  /** Kills the churn and every tracked child, deletes the namespace. */
  close(): void;
}

/** The namespace (named from `prefix`) with the churn server on 127.0.0.1:`port` and its client ready. */
export async function startChurnNamespace(prefix: string, port: number): Promise<ChurnNamespace> {
  const ns = createNetns(prefix);
  const children: ChildProcess[] = [];
  const close = () => {
    for (const c of children) c.kill('SIGKILL');
    ns.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      close();
      process.exit(130);
    });
  }
  try {
    // Inside the namespace only: a wide port range and TIME_WAIT reuse, so the churn never runs out of ports.
    ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_tw_reuse': 1 });
    const churnScript = new URL('./trace-churn.ts', import.meta.url).pathname;
    const churnServer = spawn(
      ns.exec[0]!,
      [...ns.exec.slice(1), process.execPath, churnScript, String(port), 'server'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(churnServer);
    await new Promise((resolve) => createInterface({ input: churnServer.stdout! }).once('line', resolve));
    const churn = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, churnScript, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(churn);
    const replies = createInterface({ input: churn.stdout! })[Symbol.asyncIterator]();
    const reply = async () => String((await replies.next()).value);
    if ((await reply()) !== 'ready') throw new Error('churn did not start');
    return {
      ns,
      pids: [churnServer.pid!, churn.pid!],
      ask: async (cmd) => {
        churn.stdin!.write(cmd + '\n');
        return reply();
      },
      track: (child) => {
        children.push(child);
        return child;
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
