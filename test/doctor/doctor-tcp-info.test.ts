// doctor's tcp_info rules on real situations built in two namespaces of the test's own: a client
// namespace whose connections go to peers in a server namespace, one peer per situation, and a
// healthy peer beside them in the same run. Evidence is checked against ss -tin of the same sockets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { parseSsInfo, type SsInfo } from '../helpers/ss.ts';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const skip = !root
  ? 'needs root for network namespaces'
  : !has('nft') || !has('python3') || !has('ss')
    ? 'needs nft, python3 and ss'
    : false;

const LOSSY = '198.18.1.2';
const HEALTHY = '198.18.2.2';
const SLOW_READER = '198.18.2.3';
const STOPPED_READER = '198.18.2.4';

/** Run Python inside a namespace; resolves once it prints its first line. */
async function py(ns: Netns, code: string): Promise<ChildProcess> {
  const child = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(createInterface({ input: child.stdout! }), 'line');
  return child;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function ssOf(ns: Netns): SsInfo[] {
  return parseSsInfo(
    execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'ss', '-tinmHO', 'state', 'established'], { encoding: 'utf8' }),
  );
}
const towards = (list: SsInfo[], peer: string) => list.find((s) => s.peer === `${peer}:5001`);
const f = (s: SsInfo | undefined, name: string) => s?.fields.get(name) ?? 0;

interface Finding {
  id: string;
  title: string;
  evidence: string[];
}

test('doctor names the lossy peer, the receivers that hold senders back and the queue that does not drain, and not the healthy peer', {
  skip,
}, async () => {
  const client = createNetns('tcplens-test-tcpinfo-c');
  const server = createNetns('tcplens-test-tcpinfo-s');
  const children: ChildProcess[] = [];
  try {
    // Two links: v1 to the lossy peer, v2 to the others (one address each, so each is a peer of its own).
    ip('-n', client.name, 'link', 'add', 'v1', 'type', 'veth', 'peer', 'name', 'w1', 'netns', server.name);
    ip('-n', client.name, 'link', 'add', 'v2', 'type', 'veth', 'peer', 'name', 'w2', 'netns', server.name);
    ip('-n', client.name, 'addr', 'add', '198.18.1.1/24', 'dev', 'v1');
    ip('-n', client.name, 'addr', 'add', '198.18.2.1/24', 'dev', 'v2');
    ip('-n', server.name, 'addr', 'add', `${LOSSY}/24`, 'dev', 'w1');
    for (const a of [HEALTHY, SLOW_READER, STOPPED_READER])
      ip('-n', server.name, 'addr', 'add', `${a}/24`, 'dev', 'w2');
    for (const [ns, dev] of [
      [client, 'v1'],
      [client, 'v2'],
      [server, 'w1'],
      [server, 'w2'],
    ] as const)
      ip('-n', ns.name, 'link', 'set', dev, 'up');
    // The lossy peer's host drops 3% of what this client sends it (this kernel has no netem).
    const nft = (...args: string[]) => execFileSync(server.exec[0]!, [...server.exec.slice(1), 'nft', ...args]);
    nft('add', 'table', 'inet', 'loss');
    nft('add', 'chain', 'inet', 'loss', 'in', '{ type filter hook input priority 0; }');
    nft(
      'add',
      'rule',
      'inet',
      'loss',
      'in',
      'ip',
      'saddr',
      '198.18.1.1',
      'tcp',
      'dport',
      '5001',
      'numgen',
      'random',
      'mod',
      '100',
      '<',
      '3',
      'drop',
    );

    children.push(
      await py(
        server,
        `import socket,threading,time
def serve(addr, mode):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
    if mode=='slow': s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,16384)
    s.bind((addr,5001)); s.listen(8)
    def handle(c):
        if mode=='stop': time.sleep(600)
        while True:
            if mode=='slow':
                d=c.recv(4096); time.sleep(0.02)
            else: d=c.recv(1<<20)
            if not d: return
    def loop():
        while True:
            c,_=s.accept(); threading.Thread(target=handle,args=(c,),daemon=True).start()
    threading.Thread(target=loop,daemon=True).start()
serve('${LOSSY}','fast'); serve('${HEALTHY}','fast'); serve('${SLOW_READER}','slow'); serve('${STOPPED_READER}','stop')
print('ready',flush=True); time.sleep(600)`,
      ),
    );
    // Bulk senders, except towards the healthy peer: 128 KiB every 5 ms, a steady load the reader keeps up with.
    children.push(
      await py(
        client,
        `import socket,threading,time
def send(addr, paced):
    c=socket.create_connection((addr,5001)); buf=b'x'*131072
    while True:
        c.sendall(buf)
        if paced: time.sleep(0.005)
for a,p in [('${LOSSY}',False),('${HEALTHY}',True),('${SLOW_READER}',False),('${STOPPED_READER}',False)]:
    threading.Thread(target=send,args=(a,p),daemon=True).start()
time.sleep(1.5)
print('go',flush=True); time.sleep(600)`,
      ),
    );

    const before = ssOf(client);
    const r = await runCli(['doctor', '--duration', '2', '--json'], { prefix: client.exec, timeoutMs: 90_000 });
    const after = ssOf(client);
    assert.equal(r.code, 0, r.stderr);
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const byId = (id: string) => findings.find((x) => x.id === id);
    const all = (x: Finding | undefined) => (x ? `${x.title}\n${x.evidence.join('\n')}` : '');
    const delta = (peer: string, name: string) => f(towards(after, peer), name) - f(towards(before, peer), name);
    const context = `ss before:\n${JSON.stringify(before.map((s) => [s.peer, s.sendQ, Object.fromEntries(s.fields)]))}\nfindings: ${JSON.stringify(findings, null, 1)}`;

    // Retransmits: the lossy peer, with figures inside what ss counted around the window.
    const retrans = byId('peer-retransmits');
    assert.ok(retrans, context);
    assert.match(retrans.title, new RegExp(`connections to ${LOSSY.replaceAll('.', '\\.')} retransmit`));
    assert.doesNotMatch(all(retrans), /198\.18\.2\./, 'the healthy peers are not named');
    const m = new RegExp(`${LOSSY.replaceAll('.', '\\.')}: ([\\d,]+) of ([\\d,]+) segments retransmitted`).exec(
      retrans.evidence[0]!,
    );
    assert.ok(m, retrans.evidence[0]);
    const [retransSegs, segsOut] = [Number(m[1]!.replaceAll(',', '')), Number(m[2]!.replaceAll(',', ''))];
    assert.ok(
      retransSegs > 0 && retransSegs <= delta(LOSSY, 'retrans_total'),
      `${retransSegs} retransmitted in the window, ss counted ${delta(LOSSY, 'retrans_total')} around it`,
    );
    assert.ok(
      segsOut > 0 && segsOut <= delta(LOSSY, 'segs_out'),
      `${segsOut} sent in the window, ss counted ${delta(LOSSY, 'segs_out')} around it`,
    );
    assert.ok(
      delta(LOSSY, 'retrans_total') / delta(LOSSY, 'segs_out') >
        10 * (delta(HEALTHY, 'retrans_total') / delta(HEALTHY, 'segs_out')),
      'ss agrees the lossy peer is far worse',
    );

    // The receiver's window: the slow and the stopped reader, not the healthy peer.
    const rwnd = byId('receive-window-limited');
    assert.ok(rwnd, context);
    assert.match(all(rwnd), new RegExp(`${SLOW_READER.replaceAll('.', '\\.')}:5001: limited by the receiver's window`));
    assert.doesNotMatch(all(rwnd), new RegExp(`${HEALTHY.replaceAll('.', '\\.')}:5001`));
    const w = new RegExp(
      `${SLOW_READER.replaceAll('.', '\\.')}:5001: limited by the receiver's window (\\d+) of (\\d+) ms busy`,
    ).exec(all(rwnd))!;
    // ss prints whole milliseconds, tcp_info microseconds: a millisecond each side.
    assert.ok(
      Number(w[1]) <= delta(SLOW_READER, 'rwnd_limited') + 2,
      `${w[1]} ms limited in the window, ss ${delta(SLOW_READER, 'rwnd_limited')} around it`,
    );
    assert.ok(
      Number(w[2]) <= delta(SLOW_READER, 'busy') + 2,
      `${w[2]} ms busy in the window, ss ${delta(SLOW_READER, 'busy')} around it`,
    );
    assert.ok(delta(SLOW_READER, 'rwnd_limited') / delta(SLOW_READER, 'busy') >= 0.5, 'ss agrees');

    // The queue that does not drain: the stopped reader only; its Send-Q as ss shows it.
    const stuck = byId('send-queue-stuck');
    assert.ok(stuck, context);
    assert.match(stuck.title, new RegExp(`nothing acknowledged by ${STOPPED_READER.replaceAll('.', '\\.')}$`));
    const q = new RegExp(
      `${STOPPED_READER.replaceAll('.', '\\.')}:5001: Send-Q ([\\d,]+) -> ([\\d,]+) bytes, timer (\\S+)`,
    ).exec(all(stuck))!;
    assert.ok(q, all(stuck));
    assert.equal(
      Number(q[2]!.replaceAll(',', '')),
      towards(after, STOPPED_READER)?.sendQ,
      'the Send-Q ss shows after the window (the blocked sender adds nothing)',
    );
    assert.equal(q[3], 'zero-window-probe');
    assert.equal(delta(STOPPED_READER, 'bytes_acked'), 0, 'ss saw nothing acknowledged either');
    assert.doesNotMatch(
      all(stuck),
      /198\.18\.2\.[23]:5001|198\.18\.1\.2/,
      'the slow reader still drains; the others flow',
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    client.close();
    server.close();
  }
});
