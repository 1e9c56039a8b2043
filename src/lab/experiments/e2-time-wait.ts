// E2 of the lab: TIME_WAIT tuning measured over a veth — what tcp_tw_reuse does to a
// client short of ports, what tcp_fin_timeout does (not) to TIME_WAIT, and who holds TIME_WAIT.
// The measuring; its conclusion and charts are in e2-time-wait-text.ts.

import type { Netns } from '../../kernel/netns.ts';
import type { Socket } from '../../model/socket.ts';
import type { Cell, Experiment, ExperimentOutcome, LabContext } from '../experiment.ts';
import { bench, counterDelta, countersIn, labScript, round, socketsIn, sysctlIn } from '../steps.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  RANGE_PORTS,
  type FinRun,
  type ReuseRun,
  type TimeWaitRuns,
  type WhoRun,
  charts,
  conclude,
  finSetting,
  reuseSetting,
  whoSetting,
} from './e2-time-wait-text.ts';

const RANGE_LO = 21000;

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

async function client(
  ctx: LabContext,
  ns: Netns | undefined,
  host: string,
  port: number,
  count: number,
  mode: 'first' | 'wait',
): Promise<{ closed: number; errors: Record<string, number> }> {
  const r = await ctx.run(
    [process.execPath, labScript('close-order'), 'client', host, String(port), String(count), mode],
    { ns, timeoutMs: 30_000 },
  );
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
    const busy = socks.some(
      (s) => (s.remote.port === port || s.local.port === port) && CLOSING.has(s.state) && !keep.includes(s.state),
    );
    if (!busy || Date.now() > deadline) return socks;
    await sleep(50);
  }
}

const towards = (port: number) => (s: Socket) => s.remote.port === port;
const from = (port: number) => (s: Socket) => s.local.port === port;

/**
 * A step that closes connections, with the RSTs its passive closer sent meanwhile (Tcp.OutRsts in
 * that namespace). An RST that reaches a socket in TIME_WAIT ends it at once (tcp_rfc1337=0, the
 * default), so each one can leave a TIME_WAIT count one short of the connections made: a tcpdump of
 * this experiment showed the client sending its final ACK twice, 70 µs apart, and the server, whose
 * socket the first ACK had closed, answering the second with an RST.
 */
async function withPeerRsts<T>(ctx: LabContext, peer: Netns | undefined, step: () => Promise<T>): Promise<[T, number]> {
  const before = await countersIn(ctx, peer);
  const r = await step();
  return [r, counterDelta(before, await countersIn(ctx, peer), 'Tcp.OutRsts')];
}

/** Who closes first holds TIME_WAIT: counted at both ends. Runs on loopback too (one table then). */
async function whoCloses(
  ctx: LabContext,
  where: { client?: Netns; server?: Netns; host: string },
  count: number,
): Promise<WhoRun[]> {
  ctx.progress('who closes first');
  const [answerPort, firstPort] = (await startServers(ctx, where.server, where.host, ['0:answer', '0:first'])) as [
    number,
    number,
  ];
  const runs: WhoRun[] = [];
  for (const [closer, port, mode] of [
    ['client', answerPort, 'first'],
    ['server', firstPort, 'wait'],
  ] as const) {
    // The passive closer is the one whose RSTs could end the other's TIME_WAIT.
    const passive = mode === 'first' ? where.server : where.client;
    // Counted until both ends have settled: the client is done when it has closed, before the last ACKs.
    const [[c, clientSockets, serverSockets], peerRsts] = await withPeerRsts(ctx, passive, async () => {
      const done = await client(ctx, where.client, where.host, port, count, mode);
      const cs = await settle(ctx, where.client, port);
      return [done, cs, where.server === where.client ? cs : await settle(ctx, where.server, port)] as const;
    });
    const tw = (s: Socket) => s.state === 'TIME_WAIT';
    runs.push({
      closer,
      connections: c.closed,
      clientTimeWait: clientSockets.filter((s) => tw(s) && towards(port)(s)).length,
      serverTimeWait: serverSockets.filter((s) => tw(s) && from(port)(s)).length,
      // On loopback both ends share the host's counters: other traffic's RSTs would count too.
      peerRsts: where.server === where.client ? null : peerRsts,
    });
  }
  return runs;
}

/** The runs as the experiment's rows, in the order and with the keys its JSON and tables have always had. */
function rowsOf(runs: TimeWaitRuns): Row[] {
  return [
    ...runs.reuse.map(
      (r): Row => ({
        part: 'tcp_tw_reuse',
        setting: reuseSetting(r),
        runS: r.runS,
        ok: r.ok,
        lastOkS: r.lastOkS,
        eaddrnotavail: r.eaddrnotavail,
        timestamps: r.timestamps,
      }),
    ),
    ...runs.fin.map(
      (r): Row => ({
        part: 'tcp_fin_timeout',
        setting: finSetting(r),
        state: r.state,
        connections: r.connections,
        sockets: r.sockets,
        timerS: r.timerS,
        peerRsts: r.peerRsts,
        ...(r.watch ?? {}),
      }),
    ),
    ...runs.who.map(
      (r): Row => ({
        part: 'who closes first',
        setting: whoSetting(r),
        connections: r.connections,
        clientTimeWait: r.clientTimeWait,
        serverTimeWait: r.serverTimeWait,
        peerRsts: r.peerRsts,
      }),
    ),
  ];
}

export const experiment: Experiment = {
  id: 'E2',
  title: 'TIME_WAIT tuning: tcp_tw_reuse, tcp_fin_timeout, who closes first',
  shows:
    'Over a veth between two namespaces (not loopback, where tcp_tw_reuse=2 already reuses): with the client limited to ' +
    `${RANGE_PORTS} ports, tcp_tw_reuse=1 lets connect() take over a port still in TIME_WAIT (it needs TCP timestamps), so short ` +
    'connections go on where tcp_tw_reuse=0 fails with EADDRNOTAVAIL. tcp_fin_timeout is often advised to "shorten TIME_WAIT": ' +
    'the kernel timer of fresh TIME_WAIT sockets is read with it at 60 and at a few seconds — TIME_WAIT is a fixed 60 s, fin_timeout bounds ' +
    'orphaned FIN_WAIT_2. Last, whichever side sends the first FIN is the one left holding TIME_WAIT.',
  rootFor: 'tcp_tw_reuse and tcp_fin_timeout',
  async run(ctx): Promise<ExperimentOutcome> {
    const skipped: string[] = [];
    let timeline: [number, number][] = [];
    // --quick looks past a shorter fin_timeout, sooner: the point (TIME_WAIT outlives it) is the same.
    const finShortS = ctx.quick ? 3 : 5;
    if (!ctx.root) {
      skipped.push(
        "tcp_tw_reuse 0 vs 1 and tcp_fin_timeout: they need sysctls inside a network namespace of its own (root); the host's are never changed",
      );
      const runs: TimeWaitRuns = {
        reuse: [],
        fin: [],
        who: await whoCloses(ctx, { host: '127.0.0.1' }, ctx.quick ? 100 : 500),
      };
      const shows =
        'Without root only the last part runs, on loopback: whichever side sends the first FIN is the one left holding TIME_WAIT. ' +
        'tcp_tw_reuse (with the client limited to a few ports) and tcp_fin_timeout (often advised to "shorten TIME_WAIT", which it does not) ' +
        'need sysctls in a network namespace of their own.';
      return {
        rows: rowsOf(runs),
        charts: charts(runs, timeline, 0, finShortS),
        conclusion: conclude(runs, undefined),
        skipped,
        shows,
      };
    }
    // Three namespace pairs, so that the parts run side by side: tcp_tw_reuse 0 and 1 each in one of
    // its own (its sysctls and its narrowed port range are per namespace), fin_timeout and then who
    // closes first in the third. Sockets are counted only where no other part makes or ends any.
    const [t, reuse0, reuse1] = [await ctx.topology(), await ctx.topology(), await ctx.topology()];
    const timestamps = await sysctlIn(ctx, t.client, 'net.ipv4.tcp_timestamps');
    const reuseDelayMs = await sysctlIn(ctx, t.client, 'net.ipv4.tcp_tw_reuse_delay');
    if (timestamps === '0') skipped.push('tcp_tw_reuse needs tcp_timestamps, which is 0 in the namespace');
    const durationS = ctx.quick ? 2 : 5;

    // tcp_tw_reuse 0 vs 1, with the client limited to RANGE_PORTS ports.
    const reusePart = async (topo: typeof t, reuse: 0 | 1): Promise<ReuseRun> => {
      const responder = ctx.start([process.execPath, labScript('http-responder'), topo.serverAddress, '8081'], {
        ns: topo.server,
      });
      await responder.waitFor(/^\{/, 10_000);
      topo.client.sysctl({
        'net.ipv4.ip_local_port_range': `${RANGE_LO} ${RANGE_LO + RANGE_PORTS - 1}`,
        'net.ipv4.tcp_tw_reuse': reuse,
      });
      ctx.progress(`tcp_tw_reuse=${reuse}`);
      const b = await bench(
        ctx,
        `http://${topo.serverAddress}:8081/`,
        ['--no-keepalive', '-c', '4', '-d', String(durationS)],
        { ns: topo.client },
      );
      return {
        reuse,
        runS: durationS,
        ok: b.requests.ok,
        lastOkS: b.timeline.filter((p) => p.requests > 0).at(-1)?.t ?? null,
        eaddrnotavail: b.errors.EADDRNOTAVAIL ?? 0,
        timestamps: timestamps === undefined ? null : Number(timestamps),
      };
    };

    // tcp_fin_timeout: the TIME_WAIT timer with 60 and with the short value, and an orphaned
    // FIN_WAIT_2's with the short value. The short one's TIME_WAIT sockets are counted again later.
    let t0 = 0;
    let pShort = 0;
    const finPart = async (): Promise<FinRun[]> => {
      let p60: number, pNever: number;
      [p60, pShort, pNever] = (await startServers(ctx, t.server, t.serverAddress, [
        '8083:answer',
        '8084:answer',
        '8085:never',
      ])) as [number, number, number];
      const out: FinRun[] = [];
      for (const [fin, port, state] of [
        [60, p60, 'TIME_WAIT'],
        [finShortS, pShort, 'TIME_WAIT'],
        [finShortS, pNever, 'FIN_WAIT2'],
      ] as const) {
        ctx.progress(`tcp_fin_timeout=${fin}, ${state}`);
        t.client.sysctl({ 'net.ipv4.tcp_fin_timeout': fin });
        const count = ctx.quick ? 50 : 200;
        const [[c, settled], peerRsts] = await withPeerRsts(ctx, t.server, async () => {
          const done = await client(ctx, t.client, t.serverAddress, port, count, 'first');
          if (port === pShort) t0 = Date.now();
          // The server that never closes leaves FIN_WAIT_2 for good; elsewhere FIN_WAIT_2 only waits for the
          // server's FIN, which a busy server sends late: counted then, those would be missing from TIME_WAIT.
          return [done, await settle(ctx, t.client, port, state === 'FIN_WAIT2' ? ['FIN_WAIT2'] : [])] as const;
        });
        const socks = settled.filter((s) => s.state === state && s.remote.port === port);
        out.push({
          finTimeoutS: fin,
          state,
          connections: c.closed,
          sockets: socks.length,
          timerS: round(median(socks.map((s) => s.timerExpiresMs)) / 1000, 1),
          peerRsts,
        });
      }
      return out;
    };

    const [reuseRuns, [finRuns, whoRuns]] = await Promise.all([
      Promise.all([reusePart(reuse0, 0), reusePart(reuse1, 1)]),
      (async () => {
        const fin = await finPart();
        return [
          fin,
          await whoCloses(ctx, { client: t.client, server: t.server, host: t.serverAddress }, ctx.quick ? 100 : 500),
        ] as const;
      })(),
    ]);
    const runs: TimeWaitRuns = { reuse: reuseRuns, fin: finRuns, who: whoRuns };

    // The short fin_timeout's TIME_WAIT sockets again: just past fin_timeout in --quick, to their end otherwise.
    const twShort = finRuns[1]!;
    const countTw = async () =>
      (await socketsIn(ctx, t.client)).filter((s) => s.state === 'TIME_WAIT' && s.remote.port === pShort).length;
    const firstLookS = finShortS + 0.5;
    const watchS = ctx.quick ? firstLookS : 66;
    timeline = [[0, twShort.sockets]];
    let goneAfterS: number | null = null;
    // The sample before the one that found none: TIME_WAIT ended between the two.
    let lastSeenS: number | null = null;
    for (;;) {
      const elapsedS = (Date.now() - t0) / 1000;
      const nextS = timeline.length === 1 ? firstLookS : Math.min(watchS, elapsedS + 5);
      if (elapsedS < nextS) {
        ctx.progress(`TIME_WAIT with tcp_fin_timeout=${finShortS}, ${Math.round(elapsedS)} s after the close`);
        await sleep((nextS - elapsedS) * 1000);
      }
      const n = await countTw();
      const at = round((Date.now() - t0) / 1000, 1);
      timeline.push([at, n]);
      if (n === 0) {
        goneAfterS = at;
        lastSeenS = timeline.at(-2)![0];
      }
      if (n === 0 || at >= watchS) break;
    }
    // goneAfterS null: not seen gone — in --quick because nobody waited for TIME_WAIT's 60 s.
    twShort.watch = { stillAfterS: timeline[1]![0], stillThere: timeline[1]![1], lastSeenS, goneAfterS };
    t.client.sysctl({ 'net.ipv4.tcp_fin_timeout': 60 });
    return {
      rows: rowsOf(runs),
      charts: charts(runs, timeline, durationS, finShortS),
      conclusion: conclude(runs, reuseDelayMs, watchS),
      skipped,
      blanks: { goneAfterS: ctx.quick ? 'not watched' : `not by ${watchS} s` },
    };
  },
};
