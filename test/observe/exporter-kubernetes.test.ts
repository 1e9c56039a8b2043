// The Kubernetes manifests, the Containerfile and the systemd unit in deploy/: valid against the
// Kubernetes schemas (no cluster runs here), consistent with each other, and the load Job's shell
// steps run for real with the CLI against a local server.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { prometheusRule, PROMETHEUS_RULE_FILE, RULES_FILE } from '../../scripts/prometheus-rule.ts';
import { DEFAULT_SEA_PATH } from '../../scripts/build-sea.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 DaemonSet': DaemonSet,
  'batch/v1 Job': Job,
  'v1 Service': Service,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim,
  'monitoring.coreos.com/v1 ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1 PrometheusRule': PrometheusRule,
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML
type Obj = Record<string, any>;

function manifests(): { file: string; doc: Obj }[] {
  const out: { file: string; doc: Obj }[] = [];
  for (const file of readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const d of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file}: YAML errors`);
      out.push({ file, doc: d.toJSON() as Obj });
    }
  }
  return out;
}
const byKind = (kind: string, name?: string) =>
  manifests().find((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata.name === name))!.doc;
const packageVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('every Kubernetes manifest validates against the schema of its kind', () => {
  const all = manifests();
  assert.ok(all.length >= 7, `${all.length} documents`);
  for (const { file, doc } of all) {
    const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
    assert.ok(Model, `${file}: no schema known for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`);
  }
});

test('the schema check bites: a wrong type in a manifest is rejected', () => {
  const ds = structuredClone(byKind('DaemonSet'));
  ds.spec.template.spec.hostNetwork = 'yes';
  assert.throws(() => new DaemonSet(ds as never).validate(), /hostNetwork must be boolean/);
  const job = structuredClone(byKind('Job', 'tcplens-bench'));
  job.spec.completions = 'four';
  assert.throws(() => new Job(job as never).validate(), /completions must be integer/);
});

test("the DaemonSet runs in the node's network namespace with its /proc read-only, behind the Service and ServiceMonitor", () => {
  const ds = byKind('DaemonSet');
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  const c = pod.containers[0];
  const procVolume = pod.volumes.find((v: Obj) => v.hostPath?.path === '/proc');
  const procMount = c.volumeMounts.find((m: Obj) => m.name === procVolume.name);
  assert.equal(procMount.readOnly, true);
  assert.equal(c.env.find((e: Obj) => e.name === 'TCPLENS_PROC').value, procMount.mountPath);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.args.slice(0, 3), ['exporter', '--listen', '$(NODE_IP):9477']);
  assert.equal(c.image, `tcplens:${packageVersion}`);

  const svc = byKind('Service');
  assert.deepEqual(svc.spec.selector, ds.spec.selector.matchLabels);
  assert.equal(svc.spec.ports[0].targetPort, c.ports[0].name);
  const sm = byKind('ServiceMonitor');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
  assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
  // The rules' TcplensExporterDown selects job="tcplens".
  assert.ok(sm.spec.endpoints[0].relabelings.some((r: Obj) => r.targetLabel === 'job' && r.replacement === 'tcplens'));
});

test('the PrometheusRule is the rules file promtool tests, regenerated (they cannot drift)', () => {
  const text = readFileSync(PROMETHEUS_RULE_FILE, 'utf8');
  assert.equal(text, prometheusRule(readFileSync(RULES_FILE, 'utf8')), 'run node scripts/prometheus-rule.ts');
  assert.deepEqual(byKind('PrometheusRule').spec.groups, (parseYaml(readFileSync(RULES_FILE, 'utf8')) as Obj).groups);
});

test('the Containerfile packages the executable npm run build:sea writes, with the exporter as its command', () => {
  const text = readFileSync(join(ROOT, 'deploy', 'container', 'Containerfile'), 'utf8');
  const copy = /^COPY (\S+) (\S+)$/m.exec(text);
  assert.ok(copy);
  assert.equal(copy[1], relative(ROOT, DEFAULT_SEA_PATH));
  assert.match(text, new RegExp(`^ENTRYPOINT \\["${copy[2]}"\\]$`, 'm'));
  assert.match(text, /^CMD \["exporter", "--listen", "0\.0\.0\.0:9477"\]$/m);
  // Unpacked at build time into the cache the DaemonSet's read-only root leaves as it is.
  assert.match(text, /^ENV TCPLENS_CACHE_DIR=\/var\/cache\/tcplens$/m);
  assert.match(text, /^RUN tcplens --version$/m);
});

test("the load Job's pods and its merge step, run with the CLI against a local server, add up to every pod's requests", async () => {
  const requestsPerPod = 150;
  const bench = byKind('Job', 'tcplens-bench');
  const merge = byKind('Job', 'tcplens-bench-merge');
  const pods = bench.spec.completions as number;
  assert.equal(bench.spec.completionMode, 'Indexed');
  assert.equal(bench.spec.parallelism, pods, 'every pod at the same moment');
  const mergeEnv = Object.fromEntries(merge.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e.value]));
  assert.equal(Number(mergeEnv.BENCH_PODS), pods);

  const dir = mkdtempSync(join(tmpdir(), 'tcplens-job-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const results = join(dir, 'results');
  for (const d of [bin, results]) spawnSync('mkdir', ['-p', d]);
  // `tcplens` on the PATH: the CLI from these sources, as the image has the executable.
  writeFileSync(
    join(bin, 'tcplens'),
    `#!/bin/sh\nexec ${process.execPath} ${join(ROOT, 'src', 'cli', 'main.ts')} "$@"\n`,
  );
  chmodSync(join(bin, 'tcplens'), 0o755);

  const server = createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    const container = bench.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e.value]));
    const startAt = Math.ceil(Date.now() / 1000) + 2;
    // Asynchronously: the server they load lives in this process.
    const sh = (c: Obj, extra: Record<string, string>) => {
      const child = spawn(c.command[0], [...c.command.slice(1), c.args[0]], {
        env: { PATH: `${bin}:${process.env.PATH}`, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      return once(child, 'close').then(([code]) => {
        clearTimeout(timer);
        return { code: code as number | null, stdout, stderr };
      });
    };
    const runs = Array.from({ length: pods }, (_, i) =>
      sh(container, {
        ...env,
        TARGET: `http://127.0.0.1:${port}/`,
        BENCH_OPTIONS: `-n ${requestsPerPod} -c 2 --no-kernel`,
        START_AT: String(startAt),
        RESULTS_DIR: results,
        JOB_COMPLETION_INDEX: String(i),
        TCPLENS_CACHE_DIR: join(dir, 'cache'),
      }),
    );
    const mergeRun = await sh(merge.spec.template.spec.containers[0], { ...mergeEnv, RESULTS_DIR: results });
    for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stderr);
    assert.equal(mergeRun.code, 0, mergeRun.stderr);
    assert.ok(Date.now() / 1000 >= startAt, 'the pods waited for START_AT');

    const files = readdirSync(results)
      .filter((f) => /^bench-\d+\.json$/.test(f))
      .sort();
    assert.deepEqual(
      files,
      Array.from({ length: pods }, (_, i) => `bench-${i}.json`),
    );
    const merged = JSON.parse(readFileSync(join(results, 'merged.json'), 'utf8')) as {
      merged: number;
      requests: { total: number; ok: number };
    };
    assert.equal(merged.merged, pods);
    assert.equal(merged.requests.total, pods * requestsPerPod);
    assert.equal(merged.requests.ok, pods * requestsPerPod);
    assert.match(mergeRun.stdout, /req\/s|requests/i, 'the human report in the Job log');
  } finally {
    server.close();
  }
});

test('the systemd unit passes systemd-analyze verify with the executable where ExecStart says', {
  skip:
    (spawnSync('systemd-analyze', ['--version']).status !== 0 && 'systemd-analyze is missing') ||
    (process.getuid?.() !== 0 &&
      'putting the executable at /usr/local/bin without touching the host needs a mount namespace (root)') ||
    (!existsSync(DEFAULT_SEA_PATH) && 'build/tcplens-linux-x64 is not built (npm run build:sea)'),
}, () => {
  const unit = join(ROOT, 'deploy', 'systemd', 'tcplens-exporter.service');
  const exec = /^ExecStart=(\S+)/m.exec(readFileSync(unit, 'utf8'))![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-unit-'));
  dirs.push(dir);
  copyFileSync(DEFAULT_SEA_PATH, join(dir, 'tcplens'));
  // Only in this mount namespace: a tmpfs over ExecStart's directory holding the executable.
  const r = spawnSync(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs tmpfs "$1" && cp "$2" "$3" && chmod 755 "$3" && systemd-analyze verify "$4"`,
      'sh',
      resolve(exec, '..'),
      join(dir, 'tcplens'),
      exec,
      unit,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warnings');
});
