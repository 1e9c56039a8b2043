// An accept-queue overflow in a namespace of the test's own, with every kind of ListenOverflows the
// kernel counts: ACKs that find the queue full (TCP_LISTEN_OVERFLOW), ACKs of SYN-cookie connections
// that find it full (NO_SOCKET at cookie_v4_check) and SYNs refused at the full queue (no drop event).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Netns } from '../../src/kernel/netns.ts';

// Inside the namespace, with somaxconn 8 (so the accept queue holds 9): 3 connections complete and
// wait in the queue; then 30 more while nft drops the handshakes' final ACKs, so that 8 become
// request sockets and the rest SYN cookies; then the ACKs go through with data, 6 fit, the rest
// overflow (and are retransmitted); then 10 more connections whose SYNs find the queue full; then
// everything closes, the listener first, so that the counter stops there.
const SCENARIO = `import socket,subprocess,sys,time
port=int(sys.argv[1])
s=socket.socket(); s.bind(('127.0.0.1',port)); s.listen(100)
print('listening',flush=True)
sys.stdin.readline()
keep=[]
def connect():
    c=socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1',port))
    except BlockingIOError: pass
    keep.append(c); return c
for i in range(3): connect()
time.sleep(0.2)
nft=lambda *a: subprocess.run(['nft',*a],check=True)
nft('add','table','inet','hold')
nft('add','chain','inet','hold','input','{ type filter hook input priority 0; }')
nft('add','rule','inet','hold','input','tcp','dport',str(port),'tcp flags & (syn|ack) == ack','drop')
held=[connect() for i in range(30)]
time.sleep(0.3)
nft('delete','table','inet','hold')
for c in held:
    try: c.send(b'x')
    except OSError: pass
time.sleep(2.5)
for i in range(10): connect()
time.sleep(1.5)
# The listener goes first, then the clients: nothing can overflow after this.
s.close()
for c in keep: c.close()
print('done',flush=True)
sys.stdin.readline()
`;

export interface Overflow {
  /** The process that owns the listener. */
  pid: number;
  /** Run the scenario; resolves when it is over (the listener stays until close()). */
  run(): Promise<void>;
  close(): void;
}

/** The listener, started and listening; run() makes it overflow. */
export async function overflowListener(ns: Netns, port: number): Promise<Overflow> {
  ns.sysctl({ 'net.core.somaxconn': 8 });
  const child: ChildProcess = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', SCENARIO, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  await once(lines, 'line');
  return {
    pid: child.pid!,
    async run() {
      child.stdin!.write('go\n');
      await once(lines, 'line');
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}

/** A counter of the namespace's (nstat -asz: absolute, leaving nstat's history alone). */
export function nstatIn(ns: Netns, name: string): number {
  const out = execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'nstat', '-asz', name], { encoding: 'utf8' });
  return Number(new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(out)?.[1] ?? NaN);
}
