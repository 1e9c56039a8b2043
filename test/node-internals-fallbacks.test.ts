// The public-API fallbacks of the paths that use Node internals, run on purpose through their
// environment switches: the same runs give the same counts either way. (The proxy's fallback,
// TCPLENS_PROXY_IO=socket, is covered in test/proxy/passthrough.test.ts.)

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runCli } from './helpers/cli.ts';
import { hello, httpServer, rawServer } from './helpers/servers.ts';

interface Result {
  requests: { total: number; ok: number; failed: number };
  errors: Record<string, number>;
  statuses: Record<string, number>;
  connectionsOpened: number;
}

const TRANSPORTS = [
  { name: 'tcp_wrap handles (the default)', env: {} },
  { name: 'net.Socket (TCPLENS_BENCH_TRANSPORT=socket)', env: { TCPLENS_BENCH_TRANSPORT: 'socket' } },
];

async function bench(args: string[], env: NodeJS.ProcessEnv, code = 0): Promise<Result> {
  const r = await runCli(['bench', ...args, '--json', '--no-kernel'], { env, timeoutMs: 60_000 });
  assert.equal(r.code, code, r.stderr);
  return JSON.parse(r.stdout) as Result;
}

test('TCPLENS_BENCH_TRANSPORT=socket turns the handle path off, and only it', () => {
  const probe = (env: NodeJS.ProcessEnv) =>
    execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import('./src/bench/transport.ts').then((m) => console.log(m.fastPath))"],
      {
        encoding: 'utf8',
        env: { ...process.env, ...env },
        cwd: new URL('..', import.meta.url).pathname,
      },
    ).trim();
  assert.equal(probe({ TCPLENS_BENCH_TRANSPORT: 'socket' }), 'false');
  assert.equal(probe({ TCPLENS_BENCH_TRANSPORT: '' }), 'true');
});

for (const transport of TRANSPORTS) {
  describe(`bench over ${transport.name}`, () => {
    for (const mode of [[], ['--no-keepalive'], ['-p', '4']]) {
      test(`-n 300 ${mode.join(' ') || '(keep-alive)'}: exactly 300 requests sent, served and reported`, async () => {
        const server = await httpServer(hello);
        try {
          const r = await bench([server.url, '-n', '300', '-c', '4', ...mode], transport.env);
          assert.equal(r.requests.total, 300);
          assert.equal(r.requests.ok, 300);
          assert.equal(r.statuses['200'], 300);
          assert.equal(server.count(), 300);
          assert.equal(r.connectionsOpened, mode[0] === '--no-keepalive' ? 300 : 4);
        } finally {
          await server.close();
        }
      });
    }

    test('a reset in the middle of a response is ECONNRESET for every request', async () => {
      const server = await rawServer((s) => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => s.resetAndDestroy(), 5);
      });
      try {
        const r = await bench([server.url, '-n', '20', '-c', '2'], transport.env, 1);
        assert.equal(r.requests.total, 20);
        assert.equal(r.errors.ECONNRESET, 20);
      } finally {
        await server.close();
      }
    });

    test('a response that is not HTTP is a parse error for every request', async () => {
      const server = await rawServer((s) => s.write('SSH-2.0-OpenSSH_9.2\r\n'));
      try {
        const r = await bench([server.url, '-n', '10', '-c', '2'], transport.env, 1);
        assert.equal(r.errors.parse, 10);
      } finally {
        await server.close();
      }
    });
  });
}
