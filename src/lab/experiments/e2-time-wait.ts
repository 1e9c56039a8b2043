// E2 of the lab (handbook 2.5): TIME_WAIT tuning measured over a veth — what tcp_tw_reuse does to a
// client short of ports, what tcp_fin_timeout does (not) to TIME_WAIT, and who holds TIME_WAIT.

import type { Netns } from '../../kernel/netns.ts';
import type { Socket } from '../../model/socket.ts';
import type { Cell, Experiment, ExperimentOutcome, LabChart, LabContext } from '../experiment.ts';
import { bench, labScript, round, sleep, socketsIn, sysctlIn } from '../steps.ts';

const RANGE_LO = 21000;
const RANGE_PORTS = 100;

type Row = Record<string, Cell>;

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function startServers(ctx: LabContext, ns: Netns | undefined, host: string, specs: string[]): Promise<number[]> {
  const p = ctx.start([process.execPath, labScript('close-order'), 'server', host, ...specs], { ns });
  return (JSON.parse(await p.waitFor(/^\{/, 10_000)) as { ports: number[] }).ports;
}

async function client(ctx: LabContext, ns: Netns | undefined, host: string, port: number, count: number, mode: 'first' | 'wait'): Promise<{ closed: number; errors: Record<string, number> }> {
  const r = await ctx.run([process.execPath, labScript('close-order'), 'client', host, String(port), String(count), mode], { ns, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`close-order client exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { closed: number; errors: Record<string, number> };
}

const CLOSING = new Set(['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK', 'CLOSE_WAIT']);

/**
 * Waits (at most 5 s) until no socket towards port is still closing: the client script is done
 * when it has closed its sockets, not when the peers' FINs have come back.
 */
async function settle(ctx: LabContext, ns: Netns | undefined, port: number, keep: string[] = []): Promise<Socket[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const socks = await socketsIn(ctx, ns);
    const busy = socks.some((s) => (s.remote.port === port || s.local.port === port) && CLOSING.has(s.state) && !keep.includes(s.state));
    if (!busy || Date.now() > deadline) return socks;
    await sleep(50);
  }
}

const towards = (port: number) => (s: Socket) => s.remote.port === port;
const from = (port: number) => (s: Socket) => s.local.port === port;

/** Who closes first holds TIME_WAIT: counted at both ends. Runs on loopback too (one table then). */
async function whoCloses(ctx: LabContext, where: { client?: Netns; server?: Netns; host: string }, count: number): Promise<Row[]> {
  ctx.progress('who closes first');
  const [answerPort, firstPort] = (await startServers(ctx, where.server, where.host, ['0:answer', '0:first'])) as [number, number];
  const rows: Row[] = [];
  for (const [setting, port, mode] of [
    ['client closes first', answerPort, 'first'],
    ['server closes first', firstPort, 'wait'],
  ] as const) {
    const c = await client(ctx, where.client, where.host, port, count, mode);
    const clientSockets = await settle(ctx, where.client, port);
    const serverSockets = where.server === where.client ? clientSockets : await settle(ctx, where.server, port);
    const tw = (s: Socket) => s.state === 'TIME_WAIT';
    rows.push({
      part: 'who closes first',
      setting,
      connections: c.closed,
      clientTimeWait: clientSockets.filter((s) => tw(s) && towards(port)(s)).length,
      serverTimeWait: serverSockets.filter((s) => tw(s) && from(port)(s)).length,
    });
  }
  return rows;
}

export function conclude(rows: Row[], reuseDelayMs: string | undefined): string {
  const parts: string[] = [];
  const r0 = rows.find((r) => r.setting === 'tcp_tw_reuse=0');
  const r1 = rows.find((r) => r.setting === 'tcp_tw_reuse=1');
  if (r0 && r1) {
    const c0 = Number(r0.connsPerSec);
    const c1 = Number(r1.connsPerSec);
    parts.push(
      c1 > c0 * 1.2
        ? `With ${RANGE_PORTS} client ports, tcp_tw_reuse=1 kept connecting at ${round(c1, 0)} connections/s against ${round(c0, 0)} with 0 ` +
            `(${r1.ok} vs ${r0.ok} requests; EADDRNOTAVAIL ${r1.eaddrnotavail} vs ${r0.eaddrnotavail}): the connect side may take over a TIME_WAIT port ` +
            `once its last timestamp is ${reuseDelayMs ?? '1000'} ms old.`
        : `tcp_tw_reuse=1 made no clear difference here: ${round(c1, 0)} vs ${round(c0, 0)} connections/s with ${RANGE_PORTS} ports (EADDRNOTAVAIL ${r1.eaddrnotavail} vs ${r0.eaddrnotavail}).`,
    );
  }
  const tw60 = rows.find((r) => r.part === 'tcp_fin_timeout' && r.state === 'TIME_WAIT' && r.setting === 'tcp_fin_timeout=60');
  const tw5 = rows.find((r) => r.part === 'tcp_fin_timeout' && r.state === 'TIME_WAIT' && r.setting === 'tcp_fin_timeout=5');
  const fw5 = rows.find((r) => r.part === 'tcp_fin_timeout' && r.state === 'FIN_WAIT2');
  if (tw60 && tw5) {
    const same = Math.abs(Number(tw5.timerS) - Number(tw60.timerS)) < 5;
    parts.push(
      same
        ? `tcp_fin_timeout=5 left TIME_WAIT as long as 60 did: the kernel's timers read ${tw5.timerS} s and ${tw60.timerS} s right after the close` +
            `${fw5 ? `, while an orphaned FIN_WAIT_2 socket's read ${fw5.timerS} s — that is what tcp_fin_timeout bounds` : ''}.`
        : `tcp_fin_timeout changed the TIME_WAIT timer here: ${tw5.timerS} s with 5 against ${tw60.timerS} s with 60.`,
    );
    if (tw5.stillAfterS !== undefined && tw5.stillAfterS !== null) {
      parts.push(`${tw5.stillThere} of ${tw5.sockets} TIME_WAIT sockets were still there ${tw5.stillAfterS} s later${Number(tw5.goneAfterS) > 0 ? `; the last went after ${tw5.goneAfterS} s` : ''}.`);
    }
  }
  const cf = rows.find((r) => r.setting === 'client closes first');
  const sf = rows.find((r) => r.setting === 'server closes first');
  if (cf && sf) {
    const holds = (r: Row) => (Number(r.clientTimeWait) > Number(r.serverTimeWait) ? 'the client' : Number(r.serverTimeWait) > Number(r.clientTimeWait) ? 'the server' : 'neither side more');
    parts.push(
      `When the client closed first ${holds(cf)} held TIME_WAIT (${cf.clientTimeWait} client, ${cf.serverTimeWait} server sockets); ` +
        `when the server closed first ${holds(sf)} did (${sf.clientTimeWait} client, ${sf.serverTimeWait} server).`,
    );
  }
  return parts.join(' ');
}

function charts(rows: Row[], timeline: [number, number][], durationS: number): LabChart[] {
  const out: LabChart[] = [];
  const reuse = rows.filter((r) => r.part === 'tcp_tw_reuse');
  if (reuse.length) {
    out.push({
      title: `tcp_tw_reuse with ${RANGE_PORTS} client ports: requests completed in ${durationS} s of short connections`,
      kind: 'bar',
      xLabel: 'setting',
      yLabel: 'requests',
      series: [{ label: 'completed', points: reuse.map((r) => [String(r.setting), Number(r.ok)]) }],
    });
  }
  const fin = rows.filter((r) => r.part === 'tcp_fin_timeout');
  if (fin.length) {
    out.push({
      title: 'Remaining timer right after the close, as the kernel reports it (/proc/net/tcp)',
      kind: 'bar',
      xLabel: 'socket',
      yLabel: 'seconds',
      series: [{ label: 'timer (median)', points: fin.map((r) => [`${r.state} ${r.setting}`, Number(r.timerS)]) }],
    });
  }
  if (timeline.length > 1) {
    out.push({ title: 'TIME_WAIT sockets over time with tcp_fin_timeout=5', kind: 'line', xLabel: 'seconds after the close', yLabel: 'sockets', series: [{ label: 'TIME_WAIT', points: timeline }] });
  }
  const who = rows.filter((r) => r.part === 'who closes first');
  if (who.length) {
    out.push({
      title: 'Who holds TIME_WAIT',
      kind: 'bar',
      xLabel: 'closing order',
      yLabel: 'TIME_WAIT sockets',
      series: [
        { label: 'client side', points: who.map((r) => [String(r.setting), Number(r.clientTimeWait)]) },
        { label: 'server side', points: who.map((r) => [String(r.setting), Number(r.serverTimeWait)]) },
      ],
    });
  }
  return out;
}

export const experiment: Experiment = {
  id: 'E2',
  title: 'TIME_WAIT tuning: tcp_tw_reuse, tcp_fin_timeout, who closes first',
  shows:
    'Over a veth between two namespaces (not loopback, where tcp_tw_reuse=2 already reuses): with the client limited to ' +
    `${RANGE_PORTS} ports, tcp_tw_reuse=1 lets connect() take over a port still in TIME_WAIT (it needs TCP timestamps), so short ` +
    'connections go on where tcp_tw_reuse=0 fails with EADDRNOTAVAIL. tcp_fin_timeout is often advised to "shorten TIME_WAIT": ' +
    'the kernel timer of fresh TIME_WAIT sockets is read with it at 60 and at 5 — TIME_WAIT is a fixed 60 s, fin_timeout bounds ' +
    'orphaned FIN_WAIT_2. Last, whichever side sends the first FIN is the one left holding TIME_WAIT.',
  async run(ctx): Promise<ExperimentOutcome> {
    const rows: Row[] = [];
    const skipped: string[] = [];
    let timeline: [number, number][] = [];
    let reuseDelayMs: string | undefined;
    if (!ctx.root) {
      skipped.push('tcp_tw_reuse 0 vs 1 and tcp_fin_timeout: they need sysctls inside a network namespace of its own (root); the host\'s are never changed');
      rows.push(...(await whoCloses(ctx, { host: '127.0.0.1' }, ctx.quick ? 100 : 500)));
      return { rows, charts: charts(rows, timeline, 0), conclusion: conclude(rows, undefined), skipped };
    }
    const t = await ctx.topology();
    const timestamps = await sysctlIn(ctx, t.client, 'net.ipv4.tcp_timestamps');
    reuseDelayMs = await sysctlIn(ctx, t.client, 'net.ipv4.tcp_tw_reuse_delay');
    if (timestamps === '0') skipped.push('tcp_tw_reuse needs tcp_timestamps, which is 0 in the namespace');
    const responder = ctx.start([process.execPath, labScript('http-responder'), t.serverAddress, '8081', '8082'], { ns: t.server });
    const [[p60, p5, pNever]] = (await Promise.all([
      startServers(ctx, t.server, t.serverAddress, ['8083:answer', '8084:answer', '8085:never']),
      responder.waitFor(/^\{/, 10_000),
    ])) as [[number, number, number], string];

    // 1. tcp_fin_timeout: the TIME_WAIT timer with 60 and with 5, and an orphaned FIN_WAIT_2's with 5.
    // First, so that the sockets age while the rest runs: they are counted again at the end.
    const finRows: Row[] = [];
    const count = ctx.quick ? 50 : 200;
    let t0 = 0;
    for (const [fin, port, state] of [
      [60, p60, 'TIME_WAIT'],
      [5, p5, 'TIME_WAIT'],
      [5, pNever, 'FIN_WAIT2'],
    ] as const) {
      ctx.progress(`tcp_fin_timeout=${fin}, ${state}`);
      t.client.sysctl({ 'net.ipv4.tcp_fin_timeout': fin });
      await client(ctx, t.client, t.serverAddress, port, count, 'first');
      if (port === p5) t0 = Date.now();
      // The server that never closes leaves FIN_WAIT_2 for good: wait only for the others.
      const socks = (await settle(ctx, t.client, port, ['FIN_WAIT2'])).filter((s) => s.state === state && s.remote.port === port);
      finRows.push({ part: 'tcp_fin_timeout', setting: `tcp_fin_timeout=${fin}`, state, sockets: socks.length, timerS: round(median(socks.map((s) => s.timerExpiresMs)) / 1000, 1) });
    }
    const countTw5 = async () => (await socketsIn(ctx, t.client)).filter((s) => s.state === 'TIME_WAIT' && s.remote.port === p5).length;

    // 2. tcp_tw_reuse 0 vs 1, each against a port of its own so that the first run's TIME_WAIT cannot block the second.
    t.client.sysctl({ 'net.ipv4.ip_local_port_range': `${RANGE_LO} ${RANGE_LO + RANGE_PORTS - 1}` });
    const durationS = ctx.quick ? 2 : 5;
    for (const [reuse, port] of [
      [0, 8081],
      [1, 8082],
    ] as const) {
      ctx.progress(`tcp_tw_reuse=${reuse}`);
      t.client.sysctl({ 'net.ipv4.tcp_tw_reuse': reuse });
      const b = await bench(ctx, `http://${t.serverAddress}:${port}/`, ['--no-keepalive', '-c', '4', '-d', String(durationS)], { ns: t.client });
      rows.push({
        part: 'tcp_tw_reuse',
        setting: `tcp_tw_reuse=${reuse}`,
        connsPerSec: round(b.requests.ok / b.durationS, 0),
        ok: b.requests.ok,
        eaddrnotavail: b.errors.EADDRNOTAVAIL ?? 0,
        timestamps: timestamps === undefined ? null : Number(timestamps),
      });
    }
    t.client.sysctl({ 'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.tcp_tw_reuse': 0 });
    rows.push(...finRows);

    // 3. Who closes first.
    rows.push(...(await whoCloses(ctx, { client: t.client, server: t.server, host: t.serverAddress }, ctx.quick ? 100 : 500)));

    // 4. The fin_timeout=5 TIME_WAIT sockets again: past fin_timeout in --quick, to their end otherwise.
    const tw5 = finRows[1]!;
    const firstLookS = 5.5;
    const watchS = ctx.quick ? firstLookS : 66;
    timeline = [[0, Number(tw5.sockets)]];
    let goneAfterS = 0;
    for (;;) {
      const elapsedS = (Date.now() - t0) / 1000;
      const nextS = timeline.length === 1 ? firstLookS : Math.min(watchS, elapsedS + 5);
      if (elapsedS < nextS) {
        ctx.progress(`TIME_WAIT with tcp_fin_timeout=5, ${Math.round(elapsedS)} s after the close`);
        await sleep((nextS - elapsedS) * 1000);
      }
      const n = await countTw5();
      const at = round((Date.now() - t0) / 1000, 1);
      timeline.push([at, n]);
      if (n === 0) goneAfterS = at;
      if (n === 0 || at >= watchS) break;
    }
    tw5.stillAfterS = timeline[1]![0];
    tw5.stillThere = timeline[1]![1];
    tw5.goneAfterS = goneAfterS;
    t.client.sysctl({ 'net.ipv4.tcp_fin_timeout': 60 });
    return { rows, charts: charts(rows, timeline, durationS), conclusion: conclude(rows, reuseDelayMs), skipped };
  },
};
