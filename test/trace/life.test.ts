import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { has, streamCli } from './live.ts';

const TCPLIFE = '/usr/sbin/tcplife';
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : !has('bpftrace')
    ? 'needs bpftrace'
    : !existsSync(TCPLIFE)
      ? 'needs tcplife (apt-get install -y libbpf-tools)'
      : !has('python3')
        ? 'needs python3'
        : false;

// N connections to a listener of its own, one after the other: connection i sends 300,000 + 1,000·i
// bytes, receives 200,000 + 777·i, stays open 300 ms, and the client closes first. Prints the
// client ports and the byte counts it sent and read, once all are over.
const LOAD = `import json,socket,sys,time
n=int(sys.argv[1])
s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(8)
print(s.getsockname()[1],flush=True)
sys.stdin.readline()
def exact(sock,size):
    got=0
    while got<size:
        b=sock.recv(min(65536,size-got))
        if not b: break
        got+=len(b)
    return got
out=[]
for i in range(n):
    up=300000+1000*i; down=200000+777*i
    c=socket.create_connection(('127.0.0.1',s.getsockname()[1])); a,_=s.accept()
    c.sendall(b'u'*up); rup=exact(a,up)
    a.sendall(b'd'*down); rdown=exact(c,down)
    time.sleep(0.3)
    out.append({'client':c.getsockname()[1],'up':rup,'down':rdown})
    c.close(); exact(a,1); a.close()
print(json.dumps(out),flush=True)
`;

interface TcplifeRow {
  pid: number;
  lport: number;
  rport: number;
  txKb: number;
  rxKb: number;
  ms: number;
}

/** libbpf-tools' tcplife -w, the oracle: its rows once it is stopped (SIGINT makes it flush). */
async function tcplife() {
  // stdbuf: a line at a time, so that its header (printed once attached) arrives when printed.
  const child = spawn('stdbuf', ['-oL', TCPLIFE, '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const rows: TcplifeRow[] = [];
  let header = false;
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const f = l.trim().split(/\s+/);
    if (f[0] === 'PID') header = true;
    else if (f.length >= 9 && /^\d+$/.test(f[0]!)) {
      const n = f.length;
      rows.push({
        pid: Number(f[0]),
        lport: Number(f[n - 6]),
        rport: Number(f[n - 4]),
        txKb: Number(f[n - 3]),
        rxKb: Number(f[n - 2]),
        ms: Number(f[n - 1]),
      });
    }
  });
  const closed = once(child, 'close');
  for (const deadline = Date.now() + 60_000; !header; await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('tcplife did not start');
  }
  return {
    async stop(): Promise<TcplifeRow[]> {
      child.kill('SIGINT');
      await closed;
      return rows;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

test('--events life: each connection once per end, bytes equal to what was sent, durations and bytes within 1% of tcplife', {
  skip,
}, async () => {
  const N = 5;
  const load = spawn('python3', ['-c', LOAD, String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: load.stdout! });
  const [portLine] = (await once(lines, 'line')) as [string];
  const port = Number(portLine);
  const cli = streamCli(['trace', '--json', '--events', 'life', '--port', String(port)]);
  let oracle: Awaited<ReturnType<typeof tcplife>> | undefined;
  try {
    await cli.waitFor((l) => l.type === 'start', 90_000);
    oracle = await tcplife();
    load.stdin!.write('go\n');
    const [result] = (await once(lines, 'line')) as [string];
    const conns = JSON.parse(result) as { client: number; up: number; down: number }[];
    await new Promise((r) => setTimeout(r, 500));
    const rows = await oracle.stop();
    assert.equal(await cli.stop(), 0, cli.stderr());

    const life = cli.lines.filter((l) => l.type === 'life');
    assert.equal(
      life.length,
      2 * N,
      `one line per end of each connection: ${JSON.stringify(cli.lines)} ${cli.stderr()}`,
    );
    for (const [i, c] of conns.entries()) {
      const up = 300_000 + 1000 * i;
      const down = 200_000 + 777 * i;
      assert.deepEqual([c.up, c.down], [up, down], 'the load itself moved every byte');
      const client = life.find((l) => l.sport === c.client && l.dport === port)!;
      const server = life.find((l) => l.sport === port && l.dport === c.client)!;
      assert.ok(client && server, `both ends of ${c.client}`);
      assert.deepEqual([client.bytesSent, client.bytesReceived], [up, down], 'the client sent up and received down');
      assert.deepEqual([server.bytesSent, server.bytesReceived], [down, up]);
      assert.equal(client.pid, load.pid);
      assert.equal(server.pid, load.pid, "the listener's owner");
      assert.notEqual(client.sk, server.sk);
      assert.ok((client.ms as number) >= 300);
      for (const [ours, lport, rport] of [
        [client, c.client, port],
        [server, port, c.client],
      ] as const) {
        const theirs = rows.find((r) => r.lport === lport && r.rport === rport);
        assert.ok(theirs, `tcplife saw ${lport} → ${rport}; it printed ${rows.length} rows`);
        const within = (a: number, b: number) => Math.abs(a - b) <= 0.01 * Math.max(a, b);
        assert.ok(within(ours.ms as number, theirs.ms), `${ours.ms} ms against tcplife's ${theirs.ms} ms`);
        assert.ok(
          within((ours.bytesSent as number) / 1024, theirs.txKb),
          `${ours.bytesSent} B sent against tcplife's ${theirs.txKb} KB`,
        );
        assert.ok(
          within((ours.bytesReceived as number) / 1024, theirs.rxKb),
          `${ours.bytesReceived} B received against tcplife's ${theirs.rxKb} KB`,
        );
      }
    }
  } finally {
    oracle?.kill();
    load.kill('SIGKILL');
    await cli.stop('SIGKILL');
  }
});
