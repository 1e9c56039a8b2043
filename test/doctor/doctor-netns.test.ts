import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { createNetns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;

/** Run a Python snippet inside the namespace; resolves once it prints its first line. */
async function py(exec: string[], code: string) {
  const child = spawn(exec[0]!, [...exec.slice(1), 'python3', '-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(createInterface({ input: child.stdout! }), 'line');
  return child;
}

test('an accept queue capped by somaxconn 8 overflows: doctor says so with the count, and the backlog setting', { skip: !root && 'needs root for a network namespace' }, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    ns.sysctl({ 'net.core.somaxconn': 8 });
    // A listener that never accepts, and clients that keep connecting through the doctor's window.
    const server = await py(ns.exec, `import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',8080)); s.listen(100)
print('ready',flush=True); time.sleep(30)`);
    const clients = await py(ns.exec, `import socket,time
socks=[]
print('go',flush=True)
for i in range(60):
    c=socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1',8080))
    except BlockingIOError: pass
    socks.append(c); time.sleep(0.03)
time.sleep(30)`);
    const r = await runCli(['doctor', '--duration', '2.5', '--json', '--fail-on', 'critical'], { prefix: ns.exec, timeoutMs: 30_000 });
    server.kill('SIGKILL');
    clients.kill('SIGKILL');
    assert.equal(r.code, 3, `exit 3 on a critical finding; stderr: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as { findings: { id: string; severity: string; evidence: string[] }[] };
    const overflow = report.findings.find((f) => f.id === 'accept-queue-overflow')!;
    assert.equal(overflow.severity, 'critical');
    const m = /ListenOverflows \+(\d+)/.exec(overflow.evidence[0]!);
    assert.ok(m && Number(m[1]) > 0, overflow.evidence[0]);
    assert.match(overflow.evidence.join('\n'), /127.0.0.1:8080 .*queue 9\/8/);
    assert.ok(report.findings.some((f) => f.id === 'backlog-settings'));
  } finally {
    ns.close();
  }
});

test('a server that never closes after its clients do: a CLOSE_WAIT finding naming the port', { skip: !root && 'needs root for a network namespace' }, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    const server = await py(ns.exec, `import socket,time,threading
s=socket.socket(); s.bind(('127.0.0.1',9090)); s.listen(512)
held=[]
def loop():
    while True:
        c,_=s.accept(); held.append(c)
threading.Thread(target=loop,daemon=True).start()
print('ready',flush=True); time.sleep(30)`);
    const clients = await py(ns.exec, `import socket,time
for i in range(80):
    c=socket.create_connection(('127.0.0.1',9090)); c.close()
print('done',flush=True); time.sleep(30)`);
    const r = await runCli(['doctor', '--duration', '0.5', '--json'], { prefix: ns.exec, timeoutMs: 30_000 });
    server.kill('SIGKILL');
    clients.kill('SIGKILL');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { findings: { id: string; evidence: string[] }[] };
    const cw = report.findings.find((f) => f.id === 'close-wait-accumulation');
    assert.ok(cw, JSON.stringify(report.findings.map((f) => f.id)));
    assert.match(cw.evidence[0]!, /local port 9090 .*: 80 in CLOSE_WAIT/);
  } finally {
    ns.close();
  }
});

test('a clean namespace: no warning or critical finding', { skip: !root && 'needs root for a network namespace' }, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    const r = await runCli(['doctor', '--duration', '0.5', '--json', '--fail-on', 'warning'], { prefix: ns.exec, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { findings: { severity: string }[] };
    assert.ok(report.findings.every((f) => f.severity === 'info' || f.severity === 'ok'));
  } finally {
    ns.close();
  }
});
