import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { runCli } from '../helpers/cli.ts';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';

const root = process.getuid?.() === 0;
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function outRsts(ns: Netns): number {
  const out = execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'nstat', '-asz', 'TcpOutRsts'], { encoding: 'utf8' });
  return Number(/^TcpOutRsts\s+(\d+)/m.exec(out)?.[1] ?? 0);
}

// A server that closes a connection every 100 requests (tcplens serve, as it does after 1,000 by
// default): bench opens one connection after another, and each one the server closes must end
// without a reset from either side. nstat's OutRsts inside the namespace is the oracle.
for (const tls of [false, true]) {
  test(`bench against a server that closes its connections (${tls ? 'TLS' : 'plain'}): no reset sent`, {
    skip: !root && 'needs root for a network namespace',
  }, async () => {
    const ns = createNetns('tcplens-test-teardown');
    const serve = spawn(
      ns.exec[0]!,
      [
        ...ns.exec.slice(1),
        process.execPath,
        MAIN,
        'serve',
        '--port',
        '18443',
        '--json',
        '--max-requests-per-socket',
        '100',
        ...(tls ? ['--tls'] : []),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await once(createInterface({ input: serve.stdout! }), 'line');
      const before = outRsts(ns);
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:18443/`;
      const r = await runCli(['bench', url, '-d', '2', '-c', '4', '--json', ...(tls ? ['--insecure'] : [])], {
        prefix: ns.exec,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as {
        connectionsOpened: number;
        requests: { ok: number; failed: number };
        kernel: { counters: Record<string, number> };
      };
      // Let the last FINs and any late reset go out before counting.
      await new Promise((res) => setTimeout(res, 300));
      const resets = outRsts(ns) - before;
      assert.ok(result.connectionsOpened > 8, `the server closed connections: ${result.connectionsOpened} opened`);
      assert.equal(result.requests.failed, 0);
      // One reset is bench's own, on purpose: its check of the target before the run ends with RST
      // (no TIME_WAIT left behind), and it is not part of the run's counters.
      assert.equal(resets, 1, `${resets} resets for ${result.connectionsOpened} connections`);
      assert.equal(result.kernel.counters['Tcp.OutRsts'], 0, "bench's verdict sees none");
    } finally {
      serve.kill('SIGKILL');
      ns.close();
    }
  });
}
