import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readSnmp } from '../../src/kernel/snmp.ts';
import { readSockstat } from '../../src/kernel/sockstat.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/counters/', import.meta.url));
const LINUX = process.platform === 'linux';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `tcplens counters …` to completion, on the given /proc root (the real one by default). */
function counters(args: string[], procRoot?: string): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  if (procRoot === undefined) delete env.TCPLENS_PROC;
  else env.TCPLENS_PROC = procRoot;
  const r = spawnSync(process.execPath, [MAIN, 'counters', ...args], { env, encoding: 'utf8', timeout: 100_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start `tcplens counters …` in the background on the real /proc; the caller waits and cleans up. */
function start(args: string[]): {
  child: ChildProcess;
  done: Promise<Run>;
  output: (pattern: RegExp) => Promise<void>;
} {
  const env = { ...process.env };
  delete env.TCPLENS_PROC;
  const child = spawn(process.execPath, [MAIN, 'counters', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  // Resolves once stdout so far matches: the test acts on what the command has said, not on a guess of time.
  const output = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stdout)) return;
        child.stdout!.off('data', check);
        resolve();
      };
      child.stdout!.on('data', check);
      child.once('close', () => reject(new Error(`exited before printing ${pattern}: ${stdout}${stderr}`)));
      check();
    });
  return { child, done, output };
}

/** The nstat-style flat names of a counters --json document: TcpExtListenOverflows → N. */
function flatten(doc: Record<string, unknown>): Map<string, number> {
  const flat = new Map<string, number>();
  for (const [section, fields] of Object.entries(doc)) {
    if (section === 'sockstat') continue;
    for (const [field, value] of Object.entries(fields as Record<string, number>)) flat.set(section + field, value);
  }
  return flat;
}

function assertOneLineError(r: Run, exitCode: number, pattern: RegExp): void {
  assert.equal(r.code, exitCode, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^tcplens: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

describe('tcplens counters (on captured files)', () => {
  const overflow = `${FIXTURES}overflow`;

  it('lists nonzero counters and marks the harmful ones with !', () => {
    const r = counters([], overflow);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /Section\s+Counter\s+Value/);
    assert.ok(
      lines.some((l) => /^!\s+TcpExt\s+ListenOverflows\s+1,234$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /^\s+TcpExt\s+TW\s+46,000$/.test(l)),
      'harmless counters are not marked',
    );
    assert.ok(!lines.some((l) => /AttemptFails/.test(l)), 'zero counters are left out');
    assert.match(r.stdout, /^! harmful when it moves/m);
  });

  it('lists zero counters too with --all, without marking them', () => {
    const r = counters(['--all'], overflow);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\s+Tcp\s+AttemptFails\s+0$/m);
  });

  it('adds the meaning of each counter with --explain', () => {
    const r = counters(['--explain', '--match', 'listen'], overflow);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Meaning/);
    assert.match(r.stdout, /ListenOverflows\s+1,234\s+a listener's accept queue was full/);
    assert.match(r.stdout, /ListenDrops\s+1,240\s+packets a listener dropped for any reason/);
  });

  it('narrows to sections and names with --section and --match', () => {
    const r = counters(['--section', 'tcpext', '--match', 'listen|^tw$', '--json'], overflow);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
    assert.deepEqual(Object.keys(doc), ['TcpExt']);
    assert.ok(Object.keys(doc.TcpExt!).every((name) => /listen|^tw$/i.test(name)));
    assert.equal(doc.TcpExt!.TW, 46000);
    assert.equal(doc.TcpExt!.ListenOverflows, 1234);
    assert.equal(doc.TcpExt!.ListenDrops, 1240);
  });

  it('prints in --json --all exactly what the kernel files hold, in the kernel names', () => {
    const r = counters(['--json', '--all'], `${FIXTURES}proc`);
    assert.equal(r.code, 0, r.stderr);
    const expected = { ...readSnmp(`${FIXTURES}proc`).sections, sockstat: readSockstat(`${FIXTURES}proc`).sections };
    assert.deepEqual(JSON.parse(r.stdout), expected);
  });

  it('keeps zero values in --json, so scripts find every field (the table leaves them out)', () => {
    const json = JSON.parse(counters(['--json'], overflow).stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(json, JSON.parse(counters(['--json', '--all'], overflow).stdout));
    assert.equal(json.TcpExt!.TCPTimeWaitOverflow, 0);
    assert.doesNotMatch(counters([], overflow).stdout, /TCPTimeWaitOverflow/);
  });

  it('prints one JSON sample per interval with deltas, rates of event counters only, and values', () => {
    const r = counters(
      ['--interval', '0.1', '--count', '2', '--json', '--all', '--section', 'Tcp,sockstat.TCP'],
      overflow,
    );
    assert.equal(r.code, 0, r.stderr);
    // biome-ignore lint/suspicious/noExplicitAny: the test reads the fields of parsed JSON as it finds them
    const doc = JSON.parse(r.stdout) as { samples: Array<Record<string, any>> };
    assert.equal(doc.samples.length, 2);
    for (const s of doc.samples) {
      assert.ok(!Number.isNaN(Date.parse(s.time)));
      assert.ok(s.intervalS > 0.05 && s.intervalS < 1, `intervalS ${s.intervalS}`);
      assert.equal(s.deltas.Tcp.ActiveOpens, 0, 'files that do not change do not move');
      assert.equal(s.deltas.Tcp.CurrEstab, 0);
      assert.equal(s.rates.Tcp.ActiveOpens, 0);
      assert.equal(s.rates.Tcp.CurrEstab, undefined, 'a level has no rate');
      assert.equal(s.values.Tcp.CurrEstab, 211);
      assert.equal(s.deltas.sockstat.TCP.tw, 0);
      assert.equal(s.values.sockstat.TCP.tw, 2500);
    }
  });

  it('says that nothing moved, per interval, in a table', () => {
    const r = counters(['-i', '100ms', '-c', '1'], overflow);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}over 0\.\d\d s\nno counter moved \(--all lists every counter\)\n/,
    );
  });

  it('samples every second when given --count without --interval', () => {
    const r = counters(['--count', '1', '--json'], overflow);
    assert.equal(r.code, 0, r.stderr);
    const { samples } = JSON.parse(r.stdout) as { samples: Array<{ intervalS: number }> };
    assert.equal(samples.length, 1);
    assert.ok(samples[0]!.intervalS >= 0.95 && samples[0]!.intervalS < 2, `intervalS ${samples[0]!.intervalS}`);
  });
});

describe('tcplens counters (bad input, missing or odd kernel files)', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--interval', '0'], /--interval must be between/],
    [['--interval', 'soon'], /--interval takes seconds/],
    [['--count', '-1'], /--count must be between 1 and/],
    [['--count', 'abc'], /--count takes a whole number, not 'abc'/],
    [['--count', '0'], /--count must be between 1 and/],
    [['--match', '('], /--match takes a name or a regular expression/],
    [['--section', 'Nope'], /--section: no section Nope here \(there are Ip, .*TcpExt/],
  ];
  for (const [args, pattern] of cases) {
    it(`refuses ${args.join(' ')} with one line and exit code 2`, () => {
      assertOneLineError(counters(args, `${FIXTURES}proc`), 2, pattern);
    });
  }

  it('says in one line which file is missing and exits 1 when /proc/net has no counters', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tcplens-noproc-'));
    try {
      assertOneLineError(counters([], empty), 1, new RegExp(`${empty}/net/snmp does not exist`));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('warns about lines it had to skip and still prints the rest', () => {
    const root = mkdtempSync(join(tmpdir(), 'tcplens-oddproc-'));
    try {
      mkdirSync(join(root, 'net'));
      copyFileSync(`${FIXTURES}variants/snmp-mismatch`, join(root, 'net', 'snmp'));
      for (const f of ['netstat', 'sockstat']) copyFileSync(`${FIXTURES}proc/net/${f}`, join(root, 'net', f));
      const r = counters(['--json', '--all', '--section', 'Udp'], root);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { Udp: { InDatagrams: 5, NoPorts: 0 } });
      assert.equal(r.stderr, `tcplens: warning: ${root}/net/snmp: Tcp (line 1): 6 names but 5 values; skipped\n`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('tcplens counters (live, on this kernel)', { skip: !LINUX && 'needs Linux /proc' }, () => {
  it('ends cleanly on Ctrl-C, closing the JSON document', async () => {
    const run = start(['--interval', '0.2', '--json']);
    try {
      await run.output(/"time"/);
      run.child.kill('SIGINT');
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const { samples } = JSON.parse(r.stdout) as { samples: unknown[] };
      assert.ok(samples.length >= 1, r.stdout);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('sees the connections this test opens in the per-interval deltas', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const run = start(['--interval', '0.3', '--count', '3', '--json', '--section', 'Tcp']);
    try {
      // The document opens right after the first reading: what happens from now on is counted.
      await run.output(/^\{"samples":\[/);
      const n = 5;
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve, reject) => {
          const c = connect(port, '127.0.0.1', () => {
            c.destroy();
            resolve();
          }).on('error', reject);
        });
      }
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      const { samples } = JSON.parse(r.stdout) as { samples: Array<{ deltas: { Tcp?: Record<string, number> } }> };
      const sum = (field: string) => samples.reduce((acc, s) => acc + (s.deltas.Tcp?.[field] ?? 0), 0);
      // Other processes may open connections too, so at least ours.
      assert.ok(sum('ActiveOpens') >= n, `ActiveOpens moved by ${sum('ActiveOpens')}`);
      assert.ok(sum('PassiveOpens') >= n, `PassiveOpens moved by ${sum('PassiveOpens')}`);
    } finally {
      run.child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const nstat = LINUX && spawnSync('nstat', ['-V']).status === 0;
  it('agrees with nstat -asz on every counter that held still meanwhile', {
    skip: !nstat && 'nstat (iproute2) not installed',
  }, () => {
    // nstat keeps a history file; point it at a throwaway one so the user's is neither read nor written.
    const dir = mkdtempSync(join(tmpdir(), 'tcplens-nstat-'));
    const env = { ...process.env, NSTAT_HISTORY: join(dir, 'history') };
    const readNstat = (): Map<string, number> => {
      const r = spawnSync('nstat', ['-asz'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const values = new Map<string, number>();
      for (const line of r.stdout.split('\n')) {
        const [name, value] = line.trim().split(/\s+/);
        // nstat also prints /proc/net/snmp6 (Ip6*, Icmp6*, Udp6*, UdpLite6*), which tcplens does not read.
        if (!name || name.startsWith('#') || value === undefined || /^(Ip6|Icmp6|Udp6|UdpLite6)/.test(name)) continue;
        values.set(name, Number(value));
      }
      return values;
    };
    try {
      const before = readNstat();
      const ours = counters(['--json', '--all']);
      const after = readNstat();
      assert.equal(ours.code, 0, ours.stderr);
      const flat = flatten(JSON.parse(ours.stdout) as Record<string, unknown>);

      const absent = [...before.keys()].filter((name) => !flat.has(name));
      assert.deepEqual(absent, [], 'every counter nstat shows, tcplens shows too');
      let compared = 0;
      for (const [name, value] of before) {
        if (after.get(name) !== value) continue;
        assert.equal(flat.get(name), value, name);
        compared++;
      }
      assert.ok(compared > 100, `compared only ${compared} counters`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
