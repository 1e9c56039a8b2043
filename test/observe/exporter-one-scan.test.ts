// The exporter reads the socket table once per sample, per-peer RTT included: strace counts the
// sock_diag dumps the process asks the kernel for, in a namespace of the test's own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';
import { parseExposition, type Exposition } from '../helpers/prom-text.ts';
import { has, streamCli } from '../trace/live.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['strace', 'curl', 'python3'] as const).find((c) => !has(c))
    ? 'needs strace, curl and python3'
    : false;

const CONNECTIONS = 4;
const LOAD = `import socket,sys
port=int(sys.argv[1])
s=socket.socket(); s.bind(('127.0.0.1',port)); s.listen(64)
pairs=[]
for i in range(${CONNECTIONS}):
    c=socket.socket(); c.bind(('127.0.0.2',0)); c.connect(('127.0.0.1',port)); a,_=s.accept(); pairs.append((c,a))
print('ready',flush=True)
sys.stdin.readline()
`;

// Longer than the exporter's sharing window (500 ms): every scrape takes a sample of its own.
const SCRAPE_GAP_MS = 700;
const SCRAPES = 4;

function scrapeIn(ns: Netns, url: string): Exposition {
  return parseExposition(execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'curl', '-sf', url], { encoding: 'utf8' }));
}
const value = (e: Exposition, name: string, labels: Record<string, string> = {}) =>
  e.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

interface Dump {
  line: string;
  /** inet_diag_req_v2.idiag_ext: the extensions asked for, one bit each (INET_DIAG_INFO is bit 1). */
  ext: number;
}
const INFO_BIT = 1 << 1;

/**
 * The sock_diag dump requests strace saw (SOCK_DIAG_BY_FAMILY is 20). strace decodes the request
 * when it can tell the socket's protocol and prints its bytes (-xx: all in hex) when not:
 * family, protocol, then idiag_ext.
 */
function dumpRequests(traceFile: string): Dump[] {
  const out: Dump[] = [];
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    if (!/sendto\(\d+, \[\{nlmsg_len=\d+, nlmsg_type=(SOCK_DIAG_BY_FAMILY|0x14)\b/.test(line)) continue;
    const raw = /\}, "\\x[0-9a-f]{2}\\x[0-9a-f]{2}\\x([0-9a-f]{2})/.exec(line);
    const decoded = /idiag_ext=([^,]*)/.exec(line);
    if (raw) out.push({ line, ext: Number.parseInt(raw[1]!, 16) });
    else if (decoded)
      out.push({
        line,
        ext: (decoded[1]!.includes('INET_DIAG_INFO') ? INFO_BIT : 0) | (decoded[1] === '0' ? 0 : 1 << 8),
      });
    else throw new Error(`a dump request strace printed in a way this test does not read: ${line}`);
  }
  return out;
}

/** Runs the exporter under strace in the namespace, scrapes it SCRAPES times, and returns the scrapes and the dumps. */
async function traced(ns: Netns, dir: string, rttInterval: string): Promise<{ scrapes: Exposition[]; dumps: Dump[] }> {
  const traceFile = join(dir, `strace-${rttInterval}.txt`);
  const prefix = [
    'strace',
    '-f',
    '-qq',
    '--seccomp-bpf',
    '-xx',
    '-e',
    'trace=sendto',
    '-e',
    'signal=none',
    '-o',
    traceFile,
    ...ns.exec,
  ];
  const exporter = streamCli(
    ['exporter', '--listen', '127.0.0.1:0', '--json', '--findings-interval', '0', '--rtt-interval', rttInterval],
    { prefix },
  );
  try {
    await exporter.waitFor((l) => 'url' in l, 30_000);
    const url = (exporter.lines[0] as { url: string }).url;
    const scrapes: Exposition[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, SCRAPE_GAP_MS));
      scrapes.push(scrapeIn(ns, url));
    }
    // strace writes each call as it returns, before the answer that followed it: the file is complete.
    return { scrapes, dumps: dumpRequests(traceFile) };
  } finally {
    // strace leaves its tracee running when it is stopped: stop the exporter itself (strace's child).
    const children = readFileSync(`/proc/${exporter.child.pid}/task/${exporter.child.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const pid of children) process.kill(Number(pid), 'SIGKILL');
    await exporter.stop('SIGKILL');
  }
}

test('exporter: one sock_diag dump per family per sample, per-peer RTT read in that same dump', { skip }, async () => {
  const ns = createNetns('tcplens-test-exponescan');
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-onescan-'));
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const load = spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', LOAD, String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    await once(createInterface({ input: load.stdout! }), 'line');

    const { scrapes, dumps } = await traced(ns, dir, '0.05');
    for (const [i, e] of scrapes.entries()) {
      // The reading shown was taken with the sample shown: the same scan.
      assert.equal(
        value(e, 'tcplens_peer_rtt_timestamp_seconds'),
        value(e, 'tcplens_sample_timestamp_seconds'),
        `scrape ${i + 1}: reading and sample taken together`,
      );
      assert.equal(
        value(e, 'tcplens_peer_connections', { peer: '127.0.0.2' }),
        CONNECTIONS,
        `scrape ${i + 1}: the test's connections`,
      );
      assert.equal(value(e, 'tcplens_scrapes_total'), i + 1, `scrape ${i + 1} took a sample of its own`);
    }
    const lines = (ds: Dump[]) => ds.map((d) => d.line).join('\n');
    // AF_INET and AF_INET6 for each sample, nothing more; each asks for tcp_info.
    assert.equal(dumps.length, 2 * SCRAPES, lines(dumps));
    for (const d of dumps) assert.ok(d.ext & INFO_BIT, d.line);

    // Without per-peer RTT the dumps ask for no extension at all.
    const plain = await traced(ns, dir, '0');
    assert.equal(value(plain.scrapes.at(-1)!, 'tcplens_peer_connections', { peer: '127.0.0.2' }), undefined);
    assert.equal(plain.dumps.length, 2 * SCRAPES, lines(plain.dumps));
    for (const d of plain.dumps) assert.equal(d.ext, 0, d.line);
  } finally {
    load.kill('SIGKILL');
    ns.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
