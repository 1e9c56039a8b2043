// Benchmark: `tcplens sockets` against `ss -tan`, `ss -tin` and the usual ss | awk | sort | uniq -c
// pipelines, over 60,000 sockets (50,000 of them ESTABLISHED) grown in a namespace of its own, runs
// interleaved. Needs root.
//
//   npm run build && node bench/sockets.ts [--established 25000] [--time-wait 10000] [--rounds 7] [--output pipe|null] [--baseline OTHER/dist/cli/main.js]
// --established counts connections: each is two ESTABLISHED sockets. Each command's output goes
// through a pipe to cat (as a user's `| less` or `| grep` would read it; cat's time is counted for
// every command alike), or with --output null straight to /dev/null.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createNetns } from '../src/kernel/netns.ts';
import { startFarms } from './lib/socket-farms.ts';

const { values } = parseArgs({
  options: {
    established: { type: 'string', default: '25000' },
    'time-wait': { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '7' },
    // Another build's dist/cli/main.js (an earlier commit's, say), timed in the same rounds.
    baseline: { type: 'string' },
    output: { type: 'string', default: 'pipe' },
  },
});
if (values.output !== 'pipe' && values.output !== 'null') {
  console.error('--output is pipe or null');
  process.exit(2);
}
const sink = values.output === 'pipe' ? ' | cat > /dev/null' : ' > /dev/null';
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

  const farms = await startFarms(ns, {
    established: Number(values.established),
    timeWait: Number(values['time-wait']),
  });
  for (const line of farms.ready) console.log(`farm: ${line}`);

  const count = spawnSync(inNs('ss -tanH | wc -l')[0]!, inNs('ss -tanH | wc -l').slice(1), { encoding: 'utf8' });
  const sockets = Number(count.stdout.trim());
  console.log(`sockets in the namespace (ss -tanH | wc -l): ${sockets}\n`);

  const node = process.execPath;
  // The dump-only program writes the in-process time of its dump here, run after run.
  const dumpMsFile = `/tmp/tcplens-bench-dump-ms-${process.pid}`;
  const dumpOnly = new URL('./lib/sockets-dump-only.mjs', import.meta.url).pathname;
  // The issue's targets: tcplens / the first ss command of the group, at most.
  const targets: Record<string, { against: string; ratio: number }> = {
    'counts by state': { against: 'ss -tan', ratio: 0.8 },
    'tcp_info of every connection': { against: 'ss -tin', ratio: 1.0 },
  };
  const jobs: Record<string, { name: string; cmd: string; inProcessMsFile?: string }[]> = {
    'counts by state': [
      { name: 'tcplens sockets --summary', cmd: `${node} ${cli} sockets --summary` },
      { name: 'ss -tan', cmd: 'ss -tan' },
      { name: 'tcplens sockets --summary --source proc', cmd: `${node} ${cli} sockets --summary --source proc` },
      { name: 'ss -tan | awk | sort | uniq -c', cmd: "ss -tan | awk 'NR>1 {print $1}' | sort | uniq -c | sort -nr" },
      // The floor of any /proc reader: the kernel formatting the tables, with nothing parsed.
      { name: 'cat /proc/net/tcp /proc/net/tcp6', cmd: 'cat /proc/net/tcp /proc/net/tcp6' },
      { name: 'node -e 0 (Node start-up alone)', cmd: `${node} -e 0` },
      // The floor of any Node program that reads the table: our netlink reader dumping and counting.
      {
        name: 'node: netlink dump and count only',
        cmd: `${node} ${dumpOnly} ${dumpMsFile}`,
        inProcessMsFile: dumpMsFile,
      },
      ...(values.baseline
        ? [{ name: 'baseline: sockets --summary', cmd: `${node} ${values.baseline} sockets --summary` }]
        : []),
    ],
    'tcp_info of every connection': [
      { name: 'tcplens sockets -i', cmd: `${node} ${cli} sockets -i` },
      { name: 'ss -tin', cmd: 'ss -tin' },
      { name: 'tcplens sockets -i --json', cmd: `${node} ${cli} sockets -i --json` },
      { name: 'tcplens sockets -i --by peer', cmd: `${node} ${cli} sockets -i --by peer` },
      ...(values.baseline
        ? [
            { name: 'baseline: sockets -i', cmd: `${node} ${values.baseline} sockets -i` },
            { name: 'baseline: sockets -i --json', cmd: `${node} ${values.baseline} sockets -i --json` },
          ]
        : []),
    ],
    'TIME_WAIT by peer': [
      {
        name: 'tcplens sockets --state time-wait --by peer --top 5',
        cmd: `${node} ${cli} sockets --state time-wait --by peer --top 5`,
      },
      { name: 'ss -ant state time-wait', cmd: 'ss -ant state time-wait' },
      {
        name: 'ss | awk pipeline',
        cmd: "ss -ant state time-wait | awk '{print $5}' | cut -d: -f2 | sort | uniq -c | sort -nr | sed -n 1,5p",
      },
    ],
  };

  // Timed inside the namespace by bash itself, so that spawning and entering the namespace cost
  // nothing here; the peak memory comes from GNU time in the same run.
  // Wall time, and CPU time (user + system) from GNU time: on a shared machine the CPU time moves
  // less with other people's load than the wall time does.
  const timeOne = (cmd: string): { ms: number; cpuMs: number; rssKb: number } => {
    const rssFile = `/tmp/tcplens-bench-rss-${process.pid}`;
    const script = `TIMEFORMAT=%3R; time ( /usr/bin/time -f '%M %U %S' -o ${rssFile} bash -c ${JSON.stringify(`set -o pipefail; ${cmd}${sink}`)} )`;
    const argv = inNs(script);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    const ms = Number(r.stderr.trim().split('\n').pop()) * 1000;
    const [rssKb, userS, sysS] = readFileSync(rssFile, 'utf8').trim().split(/\s+/).map(Number) as [
      number,
      number,
      number,
    ];
    return { ms, cpuMs: (userS + sysS) * 1000, rssKb };
  };

  for (const [title, list] of Object.entries(jobs)) {
    const times = new Map(list.map((j) => [j.name, [] as number[]]));
    const rss = new Map(list.map((j) => [j.name, 0]));
    const cpu = new Map(list.map((j) => [j.name, [] as number[]]));
    const inProcess = new Map(list.map((j) => [j.name, [] as number[]]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no tool always runs first (cache effects).
      for (let k = 0; k < list.length; k++) {
        const j = list[(r + k) % list.length]!;
        const { ms, cpuMs, rssKb } = timeOne(j.cmd);
        times.get(j.name)!.push(ms);
        cpu.get(j.name)!.push(cpuMs);
        rss.set(j.name, Math.max(rss.get(j.name)!, rssKb));
        if (j.inProcessMsFile) inProcess.get(j.name)!.push(Number(readFileSync(j.inProcessMsFile, 'utf8')));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ours = median(times.get(list[0]!.name)!);
    const oursCpu = median(cpu.get(list[0]!.name)!);
    console.log(
      `${title} — ${sockets} sockets, median of ${rounds} interleaved runs (wall and CPU time of each whole process, start-up included; output ${values.output === 'pipe' ? 'piped to cat' : 'to /dev/null'}); load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}${loadavg()[0]! > 2 ? ' (busy: 2 cores)' : ''}`,
    );
    for (const j of list) {
      const m = median(times.get(j.name)!);
      const c = median(cpu.get(j.name)!);
      const ratio =
        j === list[0] ? '' : `   tcplens/this = ${(ours / m).toFixed(2)}x wall, ${(oursCpu / c).toFixed(2)}x CPU`;
      console.log(
        `  ${j.name.padEnd(52)} ${m.toFixed(1).padStart(8)} ms (CPU ${c.toFixed(0).padStart(5)} ms)  max RSS ${(rss.get(j.name)! / 1024).toFixed(1).padStart(6)} MiB${ratio}`,
      );
    }
    const startMs = times.get('node -e 0 (Node start-up alone)');
    const dumpMs = inProcess.get('node: netlink dump and count only');
    if (startMs && dumpMs?.length) {
      // What no Node program can go below here: Node's own start, then the kernel's dump as our
      // reader takes it (which ss pays too), nothing else.
      const floor = median(startMs) + median(dumpMs);
      const ss = median(times.get('ss -tan')!);
      console.log(
        `  floor: node -e 0 ${median(startMs).toFixed(1)} ms + the netlink dump in process ${median(dumpMs).toFixed(1)} ms = ${floor.toFixed(1)} ms = ${(floor / ss).toFixed(2)}x ss -tan (wall)`,
      );
    }
    const target = targets[title];
    if (target) {
      const wall = ours / median(times.get(target.against)!);
      const cpuRatio = oursCpu / median(cpu.get(target.against)!);
      const verdict = (x: number) => `${x.toFixed(2)}x ${x <= target.ratio ? 'met' : 'not met'}`;
      console.log(
        `  target: ${list[0]!.name} at most ${target.ratio}x ${target.against}: wall ${verdict(wall)}, CPU ${verdict(cpuRatio)}`,
      );
    }
    console.log();
  }
  await farms.close();
} finally {
  cleanup();
  rmSync(`/tmp/tcplens-bench-dump-ms-${process.pid}`, { force: true });
}
