import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createNetns } from '../../src/kernel/netns.ts';
import { has, streamCli, tcpdump } from './live.ts';
import { nstatIn } from './overflow.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['bpftrace', 'tcpdump', 'nstat', 'python3'] as const).find((c) => !has(c))
    ? 'needs bpftrace, tcpdump, nstat and python3'
    : !readFileSync('/sys/kernel/tracing/events/tcp/tcp_send_reset/format', 'utf8').includes('reason')
      ? 'this kernel gives no reset reasons (Linux 6.10+)'
      : false;

const N = { closed: 20, unread: 10, linger: 10 };

// Inside the namespace, ports from argv: `closed` has no listener (each connect is refused with a
// reset); on `unread` the server closes with the client's bytes unread (an abort: reset); on `linger`
// the client closes with SO_LINGER 0 (an abort: reset).
const LOAD = `import socket,struct,sys,time
closed,unread,linger=map(int,sys.argv[1:4]); n=list(map(int,sys.argv[4:7]))
ls=[]
for p in (unread,linger):
    s=socket.socket(); s.bind(('127.0.0.1',p)); s.listen(64); ls.append(s)
print('ready',flush=True)
sys.stdin.readline()
for i in range(n[0]):
    try: socket.create_connection(('127.0.0.1',closed))
    except ConnectionRefusedError: pass
for i in range(n[1]):
    c=socket.create_connection(('127.0.0.1',unread)); a,_=ls[0].accept()
    c.sendall(b'request'); time.sleep(0.02); a.close(); time.sleep(0.02); c.close()
for i in range(n[2]):
    c=socket.create_connection(('127.0.0.1',linger)); a,_=ls[1].accept()
    c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0)); c.close(); time.sleep(0.02); a.close()
time.sleep(0.3)
print('done',flush=True)
sys.stdin.readline()
`;

test("resets to a closed port and by aborts: reasons, and counts equal to tcpdump's RSTs and nstat's OutRsts", {
  skip,
}, async () => {
  const ns = createNetns('tcplens-test-rst');
  // Below the ephemeral range (32768–60999), so that no client picks one of them as its own port.
  const base = 20_000 + Math.floor(Math.random() * 10_000);
  const ports = { closed: base, unread: base + 1, linger: base + 2 };
  const load = spawn(
    ns.exec[0]!,
    [
      ...ns.exec.slice(1),
      'python3',
      '-c',
      LOAD,
      ...[ports.closed, ports.unread, ports.linger, N.closed, N.unread, N.linger].map(String),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: load.stdout! });
  await once(lines, 'line');
  const cli = streamCli(['trace', '--json', '--events', 'reset', '--port', Object.values(ports).join(',')]);
  const dumps: Array<Awaited<ReturnType<typeof tcpdump>>> = [];
  try {
    await cli.waitFor((l) => l.type === 'start', 90_000);
    // tcpdump inside the namespace: every RST, and those from each case's server port.
    const rst = 'tcp[tcpflags] & tcp-rst != 0';
    const all = await tcpdump(rst, ns.exec);
    const fromClosed = await tcpdump(`${rst} and src port ${ports.closed}`, ns.exec);
    const fromUnread = await tcpdump(`${rst} and src port ${ports.unread}`, ns.exec);
    const toLinger = await tcpdump(`${rst} and dst port ${ports.linger}`, ns.exec);
    dumps.push(all, fromClosed, fromUnread, toLinger);
    const before = nstatIn(ns, 'TcpOutRsts');
    load.stdin!.write('go\n');
    await once(lines, 'line');
    const outRsts = nstatIn(ns, 'TcpOutRsts') - before;
    const [total, closed, unread, linger] = await Promise.all(dumps.map((d) => d.stop()));
    assert.equal(await cli.stop(), 0, cli.stderr());

    const sent = cli.lines.filter((l) => l.type === 'reset-sent');
    const reasons = (ls: typeof sent) => [...new Set(ls.map((l) => l.reason))];
    // The oracles agree with each other first.
    assert.equal(total, outRsts, 'tcpdump and nstat count the same resets');
    assert.equal(sent.length, total, `every reset: ${JSON.stringify(reasons(sent))}`);
    const closedSent = sent.filter((l) => l.sport === ports.closed);
    assert.equal(closedSent.length, closed);
    assert.equal(closed, N.closed);
    assert.deepEqual(reasons(closedSent), ['NO_SOCKET']);
    const unreadSent = sent.filter((l) => l.sport === ports.unread);
    assert.equal(unreadSent.length, unread);
    assert.equal(unread, N.unread);
    assert.deepEqual(reasons(unreadSent), ['TCP_ABORT_ON_CLOSE']);
    assert.ok(
      unreadSent.every((l) => l.pid === load.pid),
      'the server that closed',
    );
    const lingerSent = sent.filter((l) => l.dport === ports.linger);
    assert.equal(lingerSent.length, linger);
    assert.equal(linger, N.linger);
    assert.equal(reasons(lingerSent).length, 1, JSON.stringify(reasons(lingerSent)));
    // The summary counts them by port and reason.
    const summary = cli.lines.at(-1)!.resets as { direction: string; port: number; reason: string; count: number }[];
    assert.equal(
      summary.find((r) => r.direction === 'sent' && r.port === ports.closed && r.reason === 'NO_SOCKET')?.count,
      N.closed,
    );
    assert.equal(
      summary.find((r) => r.direction === 'sent' && r.port === ports.unread && r.reason === 'TCP_ABORT_ON_CLOSE')
        ?.count,
      N.unread,
    );
  } finally {
    await Promise.all(dumps.map((d) => d.stop()));
    await cli.stop('SIGKILL');
    load.kill('SIGKILL');
    ns.close();
  }
});
