import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { createNetns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;

/** A listener that never accepts. */
function idleListener(exec: string[], port: number) {
  return py(
    exec,
    `import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',${port})); s.listen(100)
print('ready',flush=True); time.sleep(30)`,
  );
}

/** Clients that keep opening connections to a port (without waiting for them) for a couple of seconds. */
function connectingClients(exec: string[], port: number, n: number) {
  return py(
    exec,
    `import socket,time
socks=[]
print('go',flush=True)
for i in range(${n}):
    c=socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1',${port}))
    except BlockingIOError: pass
    socks.append(c); time.sleep(0.03)
time.sleep(30)`,
  );
}

/** Run a Python snippet inside the namespace; resolves once it prints its first line. */
async function py(exec: string[], code: string) {
  const child = spawn(exec[0]!, [...exec.slice(1), 'python3', '-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(createInterface({ input: child.stdout! }), 'line');
  return child;
}

test('an accept queue capped by somaxconn 8 overflows: doctor says so with the count, and the backlog setting', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    ns.sysctl({ 'net.core.somaxconn': 8 });
    // A listener that never accepts, and clients that keep connecting through the doctor's window.
    const server = await idleListener(ns.exec, 8080);
    const clients = await connectingClients(ns.exec, 8080, 60);
    const r = await runCli(['doctor', '--duration', '2.5', '--json', '--fail-on', 'critical'], {
      prefix: ns.exec,
      timeoutMs: 90_000,
    });
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

test('a server that never closes after its clients do: a CLOSE_WAIT finding naming the port', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    const server = await py(
      ns.exec,
      `import socket,time,threading
s=socket.socket(); s.bind(('127.0.0.1',9090)); s.listen(512)
held=[]
def loop():
    while True:
        c,_=s.accept(); held.append(c)
threading.Thread(target=loop,daemon=True).start()
print('ready',flush=True); time.sleep(30)`,
    );
    const clients = await py(
      ns.exec,
      `import socket,time
for i in range(80):
    c=socket.create_connection(('127.0.0.1',9090)); c.close()
print('done',flush=True); time.sleep(30)`,
    );
    const r = await runCli(['doctor', '--duration', '0.5', '--json'], { prefix: ns.exec, timeoutMs: 90_000 });
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

test('2,000 connections closed first by the server: a TIME_WAIT finding naming the listening port and the server side', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    // The server answers and closes at once; the clients wait for its FIN, so the server holds TIME_WAIT.
    const server = await py(
      ns.exec,
      `import socket,time,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',8081)); s.listen(1024)
def loop():
    while True:
        c,_=s.accept(); c.sendall(b'bye'); c.close()
threading.Thread(target=loop,daemon=True).start()
print('ready',flush=True); time.sleep(60)`,
    );
    const clients = await py(
      ns.exec,
      `import socket
for i in range(2000):
    c=socket.create_connection(('127.0.0.1',8081)); c.recv(10); c.recv(10); c.close()
print('done',flush=True)`,
    );
    const r = await runCli(['doctor', '--duration', '0.3', '--json'], { prefix: ns.exec, timeoutMs: 90_000 });
    server.kill('SIGKILL');
    clients.kill('SIGKILL');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { findings: { id: string; title: string; evidence: string[] }[] };
    const tw = report.findings.find((f) => f.id === 'time-wait-pile-up');
    assert.ok(tw, JSON.stringify(report.findings.map((f) => f.id)));
    assert.match(tw.title, /2,0\d\d sockets in TIME_WAIT: the server side closes first/);
    assert.match(tw.evidence.join('\n'), /local port 8081 \(python3\/\d+\): 2,000/);
  } finally {
    ns.close();
  }
});

test('--pid focuses on one process: its listener, not the full one of another process', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    ns.sysctl({ 'net.core.somaxconn': 8 });
    const server = await idleListener(ns.exec, 8082);
    const other = await idleListener(ns.exec, 8083);
    const clients = await connectingClients(ns.exec, 8083, 40);
    const focus = await runCli(['doctor', '--duration', '1', '--json', '--pid', String(server.pid)], {
      prefix: ns.exec,
      timeoutMs: 90_000,
    });
    const all = await runCli(['doctor', '--duration', '1', '--json'], { prefix: ns.exec, timeoutMs: 90_000 });
    for (const c of [server, other, clients]) c.kill('SIGKILL');
    const f = JSON.parse(focus.stdout) as { findings: { id: string; evidence: string[] }[] };
    const a = JSON.parse(all.stdout) as { findings: { id: string; evidence: string[] }[] };
    // The full view names the full listener on 8083; the focused one sees only the quiet 8082.
    assert.match(a.findings.find((x) => x.id === 'accept-queue-overflow')!.evidence.join('\n'), /127.0.0.1:8083/);
    const focused = f.findings.find((x) => x.id === 'accept-queue-overflow');
    assert.ok(!focused?.evidence.join('\n').includes('8083'), JSON.stringify(focused));
  } finally {
    ns.close();
  }
});

test('a clean namespace: no warning or critical finding', {
  skip: !root && 'needs root for a network namespace',
}, async () => {
  const ns = createNetns('tcplens-test-doctor');
  try {
    const r = await runCli(['doctor', '--duration', '0.5', '--json', '--fail-on', 'warning'], {
      prefix: ns.exec,
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { findings: { severity: string }[] };
    assert.ok(report.findings.every((f) => f.severity === 'info' || f.severity === 'ok'));
  } finally {
    ns.close();
  }
});
