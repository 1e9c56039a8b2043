// Benchmark: `tcplens sockets` against `ss -tan` and the usual ss | awk | sort | uniq pipelines,
// over 50,000+ sockets grown in a namespace of its own, runs interleaved. Needs root.
//
//   npm run build && node bench/sockets.ts [--established 9000] [--time-wait 42000] [--rounds 7]

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';

const { values } = parseArgs({
  options: {
    established: { type: 'string', default: '9000' },
    'time-wait': { type: 'string', default: '42000' },
    rounds: { type: 'string', default: '7' },
  },
});
const rounds = Number(values.rounds);
const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(2);
}

const ns = createNetns('tcplens-bench-sockets');
const cleanup = () => ns.close();
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  const inNs = (cmd: string) => ['nsenter', `--net=/run/netns/${ns.name}`, 'bash', '-c', cmd];
  ns.sysctl({ 'net.ipv4.ip_local_port_range': '1024 65535', 'net.ipv4.tcp_tw_reuse': 0 });

  const farmArgv = inNs(
    `exec ${process.execPath} ${new URL('./lib/socket-farm.ts', import.meta.url).pathname}` +
      ` --established ${values.established} --time-wait ${values['time-wait']}`,
  );
  const farm = spawn(farmArgv[0]!, farmArgv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: farm.stdout! });
    rl.once('line', resolve);
    farm.once('exit', (code) => reject(new Error(`socket farm exited with ${code}`)));
    setTimeout(() => reject(new Error('socket farm not ready in 180 s')), 180_000).unref();
  });
  console.log(`farm: ${ready}`);

  const count = spawnSync(inNs('ss -tanH | wc -l')[0]!, inNs('ss -tanH | wc -l').slice(1), { encoding: 'utf8' });
  const sockets = Number(count.stdout.trim());
  console.log(`sockets in the namespace (ss -tanH | wc -l): ${sockets}\n`);

  const node = process.execPath;
  const jobs: Record<string, { name: string; cmd: string }[]> = {
    'counts by state': [
      { name: 'tcplens sockets --summary', cmd: `${node} ${cli} sockets --summary` },
      { name: 'ss -tan', cmd: 'ss -tan' },
      { name: "ss -tan | awk | sort | uniq -c", cmd: "ss -tan | awk 'NR>1 {print $1}' | sort | uniq -c | sort -nr" },
      // The floor of any /proc reader: the kernel formatting the tables, with nothing parsed.
      { name: 'cat /proc/net/tcp /proc/net/tcp6', cmd: 'cat /proc/net/tcp /proc/net/tcp6' },
      { name: 'node -e 0 (Node start-up alone)', cmd: `${node} -e 0` },
    ],
    'TIME_WAIT by peer (handbook 2.2)': [
      { name: 'tcplens sockets --state time-wait --by peer --top 5', cmd: `${node} ${cli} sockets --state time-wait --by peer --top 5` },
      { name: 'ss -ant state time-wait', cmd: 'ss -ant state time-wait' },
      {
        name: 'handbook pipeline',
        cmd: "ss -ant state time-wait | awk '{print $5}' | cut -d: -f2 | sort | uniq -c | sort -nr | head -5",
      },
    ],
  };

  // Timed inside the namespace by bash itself, so that spawning and entering the namespace cost
  // nothing here; the peak memory comes from GNU time in the same run.
  const timeOne = (cmd: string): { ms: number; rssKb: number } => {
    const rssFile = `/tmp/tcplens-bench-rss-${process.pid}`;
    const script = `TIMEFORMAT=%3R; time ( /usr/bin/time -f '%M' -o ${rssFile} bash -c ${JSON.stringify(cmd + ' > /dev/null')} )`;
    const argv = inNs(script);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    const ms = Number(r.stderr.trim().split('\n').pop()) * 1000;
    const rssKb = Number(readFileSync(rssFile, 'utf8').trim());
    return { ms, rssKb };
  };

  for (const [title, list] of Object.entries(jobs)) {
    const times = new Map(list.map((j) => [j.name, [] as number[]]));
    const rss = new Map(list.map((j) => [j.name, 0]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no tool always runs first (cache effects).
      for (let k = 0; k < list.length; k++) {
        const j = list[(r + k) % list.length]!;
        const { ms, rssKb } = timeOne(j.cmd);
        times.get(j.name)!.push(ms);
        rss.set(j.name, Math.max(rss.get(j.name)!, rssKb));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ours = median(times.get(list[0]!.name)!);
    console.log(`${title} — ${sockets} sockets, median of ${rounds} interleaved runs (wall time of each command, start-up included)`);
    for (const j of list) {
      const m = median(times.get(j.name)!);
      const ratio = j === list[0] ? '' : `   tcplens/this = ${(ours / m).toFixed(2)}x`;
      console.log(`  ${j.name.padEnd(52)} ${m.toFixed(1).padStart(8)} ms  max RSS ${(rss.get(j.name)! / 1024).toFixed(1).padStart(6)} MiB${ratio}`);
    }
    console.log();
  }
  farm.stdin!.end();
  await new Promise((r) => farm.once('exit', r));
} finally {
  cleanup();
}
