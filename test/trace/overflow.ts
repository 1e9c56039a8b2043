// An accept-queue overflow in a namespace of the test's own, with every kind of ListenOverflows the
// kernel counts: ACKs that find the queue full (TCP_LISTEN_OVERFLOW), ACKs of SYN-cookie connections
// that find it full (NO_SOCKET at cookie_v4_check) and SYNs refused at the full queue (no drop event).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Netns } from '../../src/kernel/netns.ts';
import { killOnExit } from '../helpers/children.ts';

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
  const child: ChildProcess = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', SCENARIO, String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
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

const FORMAT = '/sys/kernel/tracing/events/skb/kfree_skb/format';

/**
 * The oracle: a minimal bpftrace script counting skb:kfree_skb with the reason's number (grepped from
 * the tracepoint's format) on packets to `port`, read from the TCP header as tcplens does not: by
 * the struct's fields.
 */
export async function countingDrops(reason: string, port: number) {
  const code = new RegExp(`\\{ (\\d+), "${reason}" \\}`).exec(readFileSync(FORMAT, 'utf8'))![1];
  const script = `BEGIN { printf("ready\\n"); }
tracepoint:skb:kfree_skb /args->reason == ${code}/ {
  $skb = (struct sk_buff *)args->skbaddr;
  $th = (struct tcphdr *)($skb->head + $skb->transport_header);
  if ((($th->dest & 0xff) << 8 | ($th->dest >> 8)) == ${port}) { @drops = count(); }
}`;
  const child = killOnExit(spawn('bpftrace', ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] }));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  for (const deadline = Date.now() + 60_000; !out.includes('ready'); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the oracle bpftrace did not start');
  }
  return {
    kill: () => child.kill('SIGKILL'),
    async stop(): Promise<number> {
      const closed = once(child, 'close');
      child.kill('SIGINT');
      await closed;
      return Number(/@drops: (\d+)/.exec(out)?.[1] ?? 0);
    },
  };
}
