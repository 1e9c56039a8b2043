// Benchmark: how `tcplens sockets --summary` (netlink) grows with the number of sockets — peak
// memory and time from 1,000 to 100,000 sockets, each size in a fresh namespace of its own, with
// `ss -tan` run interleaved in the same rounds as the reference. Needs root.
//
//   npm run build && node bench/sockets-scale.ts [--sizes 1000,10000,50000,100000] [--rounds 5]
// Every socket is one end of an ESTABLISHED connection: TIME_WAIT would expire (60 s) while the
// largest sizes are still growing.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { startFarms } from './lib/socket-farms.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,50000,100000' },
    rounds: { type: 'string', default: '5' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const rounds = Number(values.rounds);
const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: {
  sockets: number;
  ms: number;
  ssMs: number;
  cpuMs: number;
  ssCpuMs: number;
  rssKb: number;
  ssRssKb: number;
}[] = [];

for (const size of sizes) {
  const ns = createNetns('tcplens-bench-scale');
  try {
    ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_tw_reuse': 0 });
    const farms = await startFarms(ns, { established: Math.round(size / 2), timeWait: 0 });
    const inNs = (cmd: string) => [...ns.exec, 'bash', '-c', cmd];
    const count = spawnSync(inNs('ss -tanH | wc -l')[0]!, inNs('ss -tanH | wc -l').slice(1), { encoding: 'utf8' });
    const sockets = Number(count.stdout.trim());
    const timeOne = (cmd: string) => {
      const rssFile = `/tmp/tcplens-bench-scale-rss-${process.pid}`;
      const script = `TIMEFORMAT=%3R; time ( /usr/bin/time -f '%M %U %S' -o ${rssFile} bash -c ${JSON.stringify(cmd + ' > /dev/null')} )`;
      const argv = inNs(script);
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
      const [rssKb, userS, sysS] = readFileSync(rssFile, 'utf8').trim().split(/\s+/).map(Number) as [
        number,
        number,
        number,
      ];
      return { ms: Number(r.stderr.trim().split('\n').pop()) * 1000, cpuMs: (userS + sysS) * 1000, rssKb };
    };
    const ours: number[] = [];
    const ss: number[] = [];
    const oursCpu: number[] = [];
    const ssCpu: number[] = [];
    let rssKb = 0;
    let ssRssKb = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['ours', 'ss'] : ['ss', 'ours'];
      for (const which of order) {
        if (which === 'ours') {
          const t = timeOne(`${process.execPath} ${cli} sockets --summary`);
          ours.push(t.ms);
          oursCpu.push(t.cpuMs);
          rssKb = Math.max(rssKb, t.rssKb);
        } else {
          const t = timeOne('ss -tan');
          ss.push(t.ms);
          ssCpu.push(t.cpuMs);
          ssRssKb = Math.max(ssRssKb, t.rssKb);
        }
      }
    }
    const row = {
      sockets,
      ms: median(ours),
      ssMs: median(ss),
      cpuMs: median(oursCpu),
      ssCpuMs: median(ssCpu),
      rssKb,
      ssRssKb,
    };
    rows.push(row);
    console.log(
      `${String(sockets).padStart(7)} sockets: tcplens sockets --summary ${row.ms.toFixed(1)} ms (CPU ${row.cpuMs.toFixed(0)}), max RSS ${(rssKb / 1024).toFixed(1)} MiB;` +
        ` ss -tan ${row.ssMs.toFixed(1)} ms (CPU ${row.ssCpuMs.toFixed(0)}), max RSS ${(ssRssKb / 1024).toFixed(1)} MiB;` +
        ` ratio ${(row.ms / row.ssMs).toFixed(2)}x wall, ${(row.cpuMs / row.ssCpuMs).toFixed(2)}x CPU`,
    );
    await farms.close();
  } finally {
    ns.close();
  }
}

// Least-squares line through (sockets, ms).
const n = rows.length;
const mx = rows.reduce((a, r) => a + r.sockets, 0) / n;
const my = rows.reduce((a, r) => a + r.ms, 0) / n;
const slope =
  rows.reduce((a, r) => a + (r.sockets - mx) * (r.ms - my), 0) / rows.reduce((a, r) => a + (r.sockets - mx) ** 2, 0);
const ssMy = rows.reduce((a, r) => a + r.ssMs, 0) / n;
const ssSlope =
  rows.reduce((a, r) => a + (r.sockets - mx) * (r.ssMs - ssMy), 0) /
  rows.reduce((a, r) => a + (r.sockets - mx) ** 2, 0);
const cpuMy = rows.reduce((a, r) => a + r.cpuMs, 0) / n;
const cpuSlope =
  rows.reduce((a, r) => a + (r.sockets - mx) * (r.cpuMs - cpuMy), 0) /
  rows.reduce((a, r) => a + (r.sockets - mx) ** 2, 0);
console.log(`CPU time: ${(cpuSlope * 1000).toFixed(2)} µs per socket above ${(cpuMy - cpuSlope * mx).toFixed(1)} ms`);
const rss = rows.map((r) => r.rssKb / 1024);
console.log(
  `\ntime: ${(slope * 1000).toFixed(2)} µs per socket above ${(my - slope * mx).toFixed(1)} ms` +
    ` (ss -tan: ${(ssSlope * 1000).toFixed(2)} µs per socket)`,
);
console.log(
  `max RSS: ${Math.min(...rss).toFixed(1)}–${Math.max(...rss).toFixed(1)} MiB (spread ${(Math.max(...rss) - Math.min(...rss)).toFixed(1)} MiB)`,
);
