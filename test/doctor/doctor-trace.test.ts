import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createNetns } from '../../src/kernel/netns.ts';
import { isOneCleanLine, runCli } from '../helpers/cli.ts';
import { has } from '../trace/live.ts';
import { nstatIn, overflowListener } from '../trace/overflow.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['bpftrace', 'nft', 'nstat', 'python3'] as const).find((c) => !has(c))
    ? 'needs bpftrace, nft, nstat and python3'
    : !readFileSync('/sys/kernel/tracing/events/skb/kfree_skb/format', 'utf8').includes('"TCP_LISTEN_OVERFLOW"')
      ? 'this kernel has no TCP_LISTEN_OVERFLOW drop reason'
      : false;

interface Report {
  findings: { id: string; severity: string; evidence: string[] }[];
  rootWouldAdd: string[];
}

test("doctor --trace in an overflowing namespace: the partition of ListenOverflows adds up to nstat's count, with the listener's owner", {
  skip,
}, async () => {
  const ns = createNetns('tcplens-test-doctor-trace');
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const server = await overflowListener(ns, port);
  const before = nstatIn(ns, 'TcpExtListenOverflows');
  const argv = [...ns.exec, process.execPath, MAIN, 'doctor', '--trace', '10', '--port', String(port), '--json'];
  const doctor = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  doctor.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  doctor.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(doctor, 'close');
  try {
    // The window starts once the probes are attached, and doctor says so.
    for (
      const deadline = Date.now() + 90_000;
      !stderr.includes('tracing drops and resets for 10 s');
      await new Promise((r) => setTimeout(r, 100))
    ) {
      if (Date.now() > deadline || doctor.exitCode !== null) throw new Error(`doctor did not start tracing: ${stderr}`);
    }
    await server.run();
    const [code] = await exited;
    const overflows = nstatIn(ns, 'TcpExtListenOverflows') - before;
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as Report;
    const f = report.findings.find((x) => x.id === 'accept-queue-overflow');
    assert.ok(f, JSON.stringify(report.findings.map((x) => x.id)));
    const line = f.evidence.find((e) => e.includes('ListenOverflows:'))!;
    const m =
      /^([\d,]+) ListenOverflows: ([\d,]+) drops seen with reasons.*, ([\d,]+) SYNs refused at the full queue \(no tracepoint\)$/.exec(
        line,
      );
    assert.ok(m, line);
    const [total, seen, refused] = [m[1], m[2], m[3]].map((s) => Number(s!.replaceAll(',', ''))) as [
      number,
      number,
      number,
    ];
    assert.equal(total, overflows, "doctor's window holds the whole overflow: nstat counts the same");
    assert.equal(seen + refused, overflows);
    assert.ok(seen > 0 && refused > 0, line);
    assert.ok(
      f.evidence.some((e) =>
        new RegExp(`^TCP_LISTEN_OVERFLOW ×[\\d,]+ on 127\\.0\\.0\\.1:${port} \\(python3/${server.pid}\\)`).test(e),
      ),
      f.evidence.join('\n'),
    );
    assert.ok(
      f.evidence.some((e) => /NO_SOCKET ×[\d,]+ on .* at cookie_v4_check/.test(e)),
      f.evidence.join('\n'),
    );
  } finally {
    doctor.kill('SIGKILL');
    server.close();
    ns.close();
  }
});

test('doctor --trace without root: no trace, and a line of what root would add', {
  skip: !(isRoot && has('setpriv')) && 'needs root to drop to nobody',
}, async () => {
  const r = await runCli(['doctor', '--trace', '0.3', '--json'], {
    prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
  });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.ok(
    report.rootWouldAdd.some((l) => /with --trace as root: the kernel's reasons for drops and resets/.test(l)),
    JSON.stringify(report.rootWouldAdd),
  );
});

test('doctor --trace with a bad value: one line, exit 2', async () => {
  const r = await runCli(['doctor', '--trace', 'soon']);
  assert.equal(r.code, 2);
  assert.ok(isOneCleanLine(r.stderr), r.stderr);
});
