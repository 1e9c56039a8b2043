// A long listing read through a pipe by a slow reader: tcplens sockets waits for the reader rather
// than holding the rest of its output in memory (process.stdout would queue it all).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
// Enough that the output (6 MB of text) stands well above the few MiB a process's resident size varies by.
const SOCKETS = 100_000;

/** A /proc/net/tcp of SOCKETS ESTABLISHED connections. */
function table(): string {
  const lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'];
  for (let i = 0; i < SOCKETS; i++) {
    const port = (1024 + i).toString(16).toUpperCase().padStart(4, '0');
    lines.push(
      `${String(i).padStart(4)}: 0100007F:${port} 0200007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 ${50_000 + i} 1 0000000000000000 20 4 30 10 -1`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

const skip = !existsSync('/usr/bin/time') && 'needs GNU time (/usr/bin/time)';

// The JSON document, and the text table with the C library out of reach (TCPLENS_NETLINK_FAULT=koffi):
// the writer then waits on a timer rather than in poll(2).
for (const [format, fault] of [
  ['json', ''],
  ['text', 'koffi'],
] as const)
  test(`sockets ${format === 'json' ? '--json' : '(text)'} through a pipe nobody reads yet, waiting ${fault ? 'on a timer' : 'in poll(2)'}: the process waits with its output unqueued, then gives all of it`, {
    skip,
  }, async () => {
    const proc = mkdtempSync(join(tmpdir(), 'tcplens-pipe-'));
    try {
      mkdirSync(join(proc, 'net'));
      mkdirSync(join(proc, 'sys', 'net', 'ipv4'), { recursive: true });
      writeFileSync(join(proc, 'net', 'tcp'), table());
      writeFileSync(
        join(proc, 'net', 'tcp6'),
        '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n',
      );
      copyFileSync('/proc/sys/net/ipv4/ip_local_port_range', join(proc, 'sys', 'net', 'ipv4', 'ip_local_port_range'));
      const args = [MAIN, 'sockets', ...(format === 'json' ? ['--json'] : []), '--source', 'proc'];
      const env = { ...process.env, TCPLENS_PROC: proc, ...(fault ? { TCPLENS_NETLINK_FAULT: fault } : {}) };
      // The same run written to /dev/null: its peak memory is the work's, with nothing left to write.
      const peakFile = join(proc, 'peak');
      const direct = spawnSync('/usr/bin/time', ['-f', '%M', '-o', peakFile, process.execPath, ...args], {
        env,
        stdio: 'ignore',
      });
      assert.equal(direct.status, 0);
      const directPeakKb = Number(readFileSync(peakFile, 'utf8').trim().split('\n').pop());
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pause();
      // Not read until the child has had time to write everything it would write at once.
      let stalledRssKb = 0;
      for (let waited = 0; waited < 30_000; waited += 250) {
        await new Promise((r) => setTimeout(r, 250));
        const rss = rssKb(child.pid!);
        if (rss > 0 && Math.abs(rss - stalledRssKb) < 512 && waited >= 3000) break;
        stalledRssKb = rss;
      }
      assert.ok(child.exitCode === null, 'still waiting for its reader');
      const chunks: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.stdout.resume();
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, 0);
      const output = Buffer.concat(chunks);
      if (format === 'json') {
        const doc = JSON.parse(output.toString('utf8')) as { sockets: unknown[] };
        assert.equal(doc.sockets.length, SOCKETS);
      } else {
        const lines = output.toString('utf8').trimEnd().split('\n');
        assert.equal(lines.length, SOCKETS + 1, 'the header and every socket');
        assert.match(lines.at(-1)!, /^ESTABLISHED\s+0\s+0\s+127\.0\.0\.1:\d+\s+127\.0\.0\.2:8080$/);
      }
      // Waiting, it holds about what the work needs, not the output it has still to write besides.
      assert.ok(
        (stalledRssKb - directPeakKb) * 1024 < output.length / 2,
        `${stalledRssKb} KiB resident while waiting, ${directPeakKb} KiB at most written to /dev/null; ${output.length} bytes of output`,
      );
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
