// End to end with a real Prometheus server (Debian's package): it scrapes three exporters, each in a
// network namespace of its own, with the shipped rules; accept-queue overflows made in one namespace
// fire TcplensListenOverflows for that instance only, as Prometheus's HTTP API reports it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const run = promisify(execFile);

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (spawnSync('prometheus', ['--version']).status !== 0)
    return "Prometheus's server is missing (apt-get install -y prometheus)";
  if (spawnSync('python3', ['--version']).status !== 0) return 'python3 is missing (the listener that never accepts)';
  if (spawnSync('curl', ['--version']).status !== 0) return 'curl is missing';
  return undefined;
}
const reason = whyNot();

// biome-ignore lint/suspicious/noExplicitAny: YAML and Prometheus's JSON
type Obj = Record<string, any>;

const namespaces: Netns[] = [];
const children: ChildProcess[] = [];
let dir = '';
let promNs: Netns;
const targets: string[] = [];

function start(argv: string[], name: string): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`${name} exited ${code}: ${stderr}\n`);
  });
  children.push(child);
  return child;
}

/** GET from Prometheus's HTTP API, inside its namespace. */
async function api(path: string): Promise<Obj> {
  const { stdout } = await run('ip', [
    'netns',
    'exec',
    promNs.name,
    'curl',
    '-sS',
    '--max-time',
    '5',
    `http://127.0.0.1:9090${path}`,
  ]);
  const body = JSON.parse(stdout) as Obj;
  assert.equal(body.status, 'success', stdout);
  return body.data as Obj;
}

/** Polls `check` until it returns a value, every 500 ms, for at most `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(
  async () => {
    if (reason) return;
    dir = mkdtempSync(join(tmpdir(), 'tcplens-prom-'));
    // Prometheus in a namespace of its own, joined to each exporter's namespace by a veth pair:
    // nothing of this lives in the host's network namespace.
    promNs = createNetns('tcplens-prom');
    namespaces.push(promNs);
    for (let i = 0; i < 3; i++) {
      const ns = createNetns(`tcplens-exp${i}`);
      namespaces.push(ns);
      const promAddr = `198.18.7.${4 * i + 1}`;
      const expAddr = `198.18.7.${4 * i + 2}`;
      execFileSync('ip', [
        '-n',
        promNs.name,
        'link',
        'add',
        `p${i}`,
        'type',
        'veth',
        'peer',
        'name',
        `e${i}`,
        'netns',
        ns.name,
      ]);
      execFileSync('ip', ['-n', promNs.name, 'addr', 'add', `${promAddr}/30`, 'dev', `p${i}`]);
      execFileSync('ip', ['-n', ns.name, 'addr', 'add', `${expAddr}/30`, 'dev', `e${i}`]);
      execFileSync('ip', ['-n', promNs.name, 'link', 'set', `p${i}`, 'up']);
      execFileSync('ip', ['-n', ns.name, 'link', 'set', `e${i}`, 'up']);
      start(
        [...ns.exec, process.execPath, MAIN, 'exporter', '--listen', `${expAddr}:9477`, '--findings-interval', '0'],
        `exporter ${i}`,
      );
      targets.push(`${expAddr}:9477`);
    }

    // The shipped rules, with every `for` cut to 2 s so that the test waits seconds, not minutes;
    // but TcplensExporterDown's, so that one slow scrape on a busy machine does not fire it.
    const rules = parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'tcplens-rules.yml'), 'utf8')) as Obj;
    for (const g of rules.groups) for (const r of g.rules) if (r.for && r.alert !== 'TcplensExporterDown') r.for = '2s';
    writeFileSync(join(dir, 'rules.yml'), stringify(rules));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      stringify({
        // A scrape walks every process of the host for the owners of listeners: seconds on a busy machine.
        global: { scrape_interval: '3s', scrape_timeout: '3s', evaluation_interval: '1s' },
        rule_files: [join(dir, 'rules.yml')],
        scrape_configs: [{ job_name: 'tcplens', static_configs: [{ targets }] }],
      }),
    );
    start(
      [
        ...promNs.exec,
        'prometheus',
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        '--web.listen-address=127.0.0.1:9090',
        '--log.level=warn',
      ],
      'prometheus',
    );
    // Every exporter scraped (up == 1) before anything is made to go wrong.
    await waitFor('three exporters up', 60_000, async () => {
      const up = await api('/api/v1/query?query=up');
      return up.result.length === 3 && up.result.every((r: Obj) => r.value[1] === '1') ? true : undefined;
    });
  },
  { timeout: 90_000 },
);

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of namespaces.reverse()) ns.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('accept-queue overflows in one namespace fire TcplensListenOverflows for that instance only', {
  skip: reason,
  timeout: 120_000,
}, async () => {
  const faulty = namespaces[2]!; // the second exporter's namespace
  const faultyTarget = targets[1]!;
  // A listener with a backlog of 1 that never accepts, and 20 clients: the kernel drops the handshakes
  // it has no room for and counts them in ListenOverflows, in this namespace only.
  const listener = start(
    [
      ...faulty.exec,
      'python3',
      '-c',
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',8080))\ns.listen(1)\ntime.sleep(300)",
    ],
    'listener',
  );
  await waitFor('the listener', 10_000, async () =>
    spawnSync('ip', ['netns', 'exec', faulty.name, 'ss', '-Htln', 'sport = :8080'], { encoding: 'utf8' }).stdout.trim()
      ? true
      : undefined,
  );
  start(
    [
      ...faulty.exec,
      'python3',
      '-c',
      "import socket,time\ncs=[]\nfor i in range(20):\n  c=socket.socket(); c.setblocking(False)\n  try: c.connect(('127.0.0.1',8080))\n  except BlockingIOError: pass\n  cs.append(c)\ntime.sleep(300)",
    ],
    'clients',
  );

  const alerts = await waitFor('TcplensListenOverflows firing', 60_000, async () => {
    const data = await api('/api/v1/alerts');
    const firing = (data.alerts as Obj[]).filter((a) => a.state === 'firing');
    return firing.some((a) => a.labels.alertname === 'TcplensListenOverflows') ? firing : undefined;
  });
  const overflow = alerts.filter((a) => a.labels.alertname === 'TcplensListenOverflows');
  assert.deepEqual(
    overflow.map((a) => a.labels.instance),
    [faultyTarget],
  );
  assert.equal(overflow[0]!.labels.severity, 'critical');
  assert.match(overflow[0]!.annotations.summary, new RegExp(`overflow on ${faultyTarget.replaceAll('.', '\\.')}`));
  // Nothing fires for the two healthy namespaces, though they were scraped and evaluated all along.
  assert.deepEqual(
    alerts.filter((a) => a.labels.instance !== faultyTarget).map((a) => `${a.labels.alertname} ${a.labels.instance}`),
    [],
  );
  const counters = await api('/api/v1/query?query=tcplens_tcpext_listen_overflows_total');
  assert.equal(counters.result.length, 3);
  for (const r of counters.result as Obj[]) {
    if (r.metric.instance === faultyTarget) assert.ok(Number(r.value[1]) > 0);
    else assert.equal(r.value[1], '0', `no overflow in ${r.metric.instance}`);
  }
  listener.kill('SIGKILL');
});
