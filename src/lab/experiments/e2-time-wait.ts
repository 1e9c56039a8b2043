// E2 of the lab: TIME_WAIT tuning measured over a veth — what tcp_tw_reuse does to a
// client short of ports, what tcp_fin_timeout does (not) to TIME_WAIT, and who holds TIME_WAIT.

import type { Netns } from '../../kernel/netns.ts';
import type { Socket } from '../../model/socket.ts';
import type { Cell, Experiment, ExperimentOutcome, LabChart, LabContext } from '../experiment.ts';
import { formatCount } from '../../text/number.ts';
import { bench, counterDelta, countersIn, labScript, round, socketsIn, sysctlIn } from '../steps.ts';
import { setTimeout as sleep } from 'node:timers/promises';

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
async function whoCloses(ctx: LabContext, where: { client?: Netns; server?: Netns; host: string }, count: number): Promise<Row[]> {
  ctx.progress('who closes first');
  const [answerPort, firstPort] = (await startServers(ctx, where.server, where.host, ['0:answer', '0:first'])) as [number, number];
  const rows: Row[] = [];
  for (const [setting, port, mode] of [
    ['client closes first', answerPort, 'first'],
    ['server closes first', firstPort, 'wait'],
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
    rows.push({
      part: 'who closes first',
      setting,
      connections: c.closed,
      clientTimeWait: clientSockets.filter((s) => tw(s) && towards(port)(s)).length,
      serverTimeWait: serverSockets.filter((s) => tw(s) && from(port)(s)).length,
      // On loopback both ends share the host's counters: other traffic's RSTs would count too.
      peerRsts: where.server === where.client ? null : peerRsts,
    });
  }
  return rows;
}

/** "N of M … : the passive closer sent K RSTs" when a TIME_WAIT count is short of the connections made. */
function shortfall(held: number, made: number, rsts: Cell | undefined, peer: 'client' | 'server'): string {
  if (!(made > held)) return '';
  const n = made - held;
  return typeof rsts === 'number' && rsts > 0
    ? ` ${n} of the ${made} connections left no TIME_WAIT, and the ${peer} sent ${rsts} RST${rsts === 1 ? '' : 's'} meanwhile (Tcp.OutRsts of its namespace): ` +
        `an RST that reaches a TIME_WAIT socket ends it at once (tcp_rfc1337=0). On this kernel the active closer now and then sends its final ACK twice, and the ${peer}, closed by the first, answers the second with an RST.`
    : ` ${n} of the ${made} connections left no TIME_WAIT that /proc/net/tcp listed, with no RST from the ${peer}.`;
}

/** The short tcp_fin_timeout of a row's setting ("tcp_fin_timeout=5" → 5). */
const finOf = (r: Row) => Number(String(r.setting).split('=')[1]);

/** "N requests went through in the first X s" from a reuse row: lastOkS is the end of the last second with a completed request. */
const okUntil = (r: Row) =>
  `${formatCount(Number(r.ok))} request${Number(r.ok) === 1 ? '' : 's'} went through${typeof r.lastOkS === 'number' ? ` in the first ${r.lastOkS} s` : ''}`;

/**
 * tcp_tw_reuse 0 against 1 by what tells them apart: the errors once the ports run out. Not a rate for 0: its
 * requests stop once each port has been used once, so ok / run length is only ports / run length. Nor
 * the raw EADDRNOTAVAIL counts: bench retries a failed connect after 10 ms doubling to 1 s, so they
 * count retries, and run higher where connects go on succeeding (each success resets the back-off).
 */
export function reuseText(r0: Row, r1: Row, reuseDelayMs: string | undefined): string {
  const runS = Number(r0.runS);
  const ports = RANGE_PORTS;
  // Ran out: connects failed, and requests stopped at least a second before the run's end.
  const ranOut = (r: Row) => Number(r.eaddrnotavail) > 0 && typeof r.lastOkS === 'number' && r.lastOkS < runS;
  const delayS = Number(reuseDelayMs ?? '1000') / 1000;
  const expected = round(ports / delayS, 0);
  const rate1 = round(Number(r1.ok) / runS, 0);
  const retries = ` bench retried each failed connect after 10 ms, doubling to 1 s: its EADDRNOTAVAIL counts (${r0.eaddrnotavail} with 0, ${r1.eaddrnotavail} with 1) count those retries, not demand.`;
  if (!ranOut(r0)) {
    return `With ${ports} client ports and tcp_tw_reuse=0 the ports did not run out in the ${runS} s run (${okUntil(r0)}; with 1, ${okUntil(r1)}), so it shows no difference.`;
  }
  const zero = `With ${ports} client ports and tcp_tw_reuse=0, ${okUntil(r0)}, then every connect() failed with EADDRNOTAVAIL for the rest of the ${runS} s run: each port stays in TIME_WAIT for 60 s.`;
  if (ranOut(r1)) {
    return `${zero} tcp_tw_reuse=1 did no better: ${okUntil(r1)}, then connects failed the same way;${retries}`;
  }
  return (
    `${zero} With tcp_tw_reuse=1 connections went on to the end: ${formatCount(Number(r1.ok))} requests, ~${rate1} per second, ` +
    `where reuse allows at most ${ports} ports / ${delayS} s = ${expected} per second — connect() may take over a TIME_WAIT port once its last timestamp is ` +
    `${reuseDelayMs ?? '1000'} ms old (tcp_tw_reuse_delay).${retries.replace(' bench', ' Bench')}`
  );
}

/**
 * watchS: how long after the close the short-fin_timeout TIME_WAIT sockets were watched (--quick
 * watches only past fin_timeout, not for TIME_WAIT's 60 s).
 */
export function conclude(rows: Row[], reuseDelayMs: string | undefined, watchS = 66): string {
  const parts: string[] = [];
  const r0 = rows.find((r) => r.setting === 'tcp_tw_reuse=0');
  const r1 = rows.find((r) => r.setting === 'tcp_tw_reuse=1');
  if (r0 && r1) parts.push(reuseText(r0, r1, reuseDelayMs));
  const fin = rows.filter((r) => r.part === 'tcp_fin_timeout');
  const tw60 = fin.find((r) => r.state === 'TIME_WAIT' && finOf(r) === 60);
  const twShort = fin.find((r) => r.state === 'TIME_WAIT' && finOf(r) !== 60);
  const fw = fin.find((r) => r.state === 'FIN_WAIT2');
  if (tw60 && twShort) {
    const short = finOf(twShort);
    const same = Math.abs(Number(twShort.timerS) - Number(tw60.timerS)) < 5;
    parts.push(
      same
        ? `tcp_fin_timeout=${short} left TIME_WAIT as long as 60 did: the kernel's timers read ${twShort.timerS} s and ${tw60.timerS} s right after the close` +
            `${fw ? `, while an orphaned FIN_WAIT_2 socket's read ${fw.timerS} s — that is what tcp_fin_timeout bounds` : ''}.`
        : `tcp_fin_timeout changed the TIME_WAIT timer here: ${twShort.timerS} s with ${short} against ${tw60.timerS} s with 60.`,
    );
    if (twShort.stillAfterS !== undefined && twShort.stillAfterS !== null) {
      const gone = twShort.goneAfterS;
      parts.push(
        `${twShort.stillThere} of ${twShort.sockets} TIME_WAIT sockets were still there ${twShort.stillAfterS} s later, past tcp_fin_timeout=${short}` +
          (typeof gone === 'number'
            ? typeof twShort.lastSeenS === 'number'
              ? `; the last went between ${twShort.lastSeenS} and ${gone} s after the close (two counts in a row).`
              : `; all gone ${gone} s after the close.`
            : watchS < 60
              ? ` (not watched until they went: that takes TIME_WAIT's 60 s, longer than --quick waits).`
              : `; some were still there ${watchS} s after the close.`),
      );
    }
    for (const r of [tw60, twShort]) {
      const note = shortfall(Number(r.sockets), Number(r.connections), r.peerRsts, 'server');
      if (note) parts.push(`With tcp_fin_timeout=${finOf(r)}:${note}`);
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
    const cfNote = shortfall(Number(cf.clientTimeWait), Number(cf.connections), cf.peerRsts, 'server');
    const sfNote = shortfall(Number(sf.serverTimeWait), Number(sf.connections), sf.peerRsts, 'client');
    if (cfNote) parts.push(`Client first:${cfNote}`);
    if (sfNote) parts.push(`Server first:${sfNote}`);
  }
  return parts.join(' ');
}

function charts(rows: Row[], timeline: [number, number][], durationS: number, finShortS: number): LabChart[] {
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
    out.push({ title: `TIME_WAIT sockets over time with tcp_fin_timeout=${finShortS}`, kind: 'line', xLabel: 'seconds after the close', yLabel: 'sockets', series: [{ label: 'TIME_WAIT', points: timeline }] });
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
    'the kernel timer of fresh TIME_WAIT sockets is read with it at 60 and at a few seconds — TIME_WAIT is a fixed 60 s, fin_timeout bounds ' +
    'orphaned FIN_WAIT_2. Last, whichever side sends the first FIN is the one left holding TIME_WAIT.',
  rootFor: 'tcp_tw_reuse and tcp_fin_timeout',
  async run(ctx): Promise<ExperimentOutcome> {
    const rows: Row[] = [];
    const skipped: string[] = [];
    let timeline: [number, number][] = [];
    // --quick looks past a shorter fin_timeout, sooner: the point (TIME_WAIT outlives it) is the same.
    const finShortS = ctx.quick ? 3 : 5;
    if (!ctx.root) {
      skipped.push('tcp_tw_reuse 0 vs 1 and tcp_fin_timeout: they need sysctls inside a network namespace of its own (root); the host\'s are never changed');
      rows.push(...(await whoCloses(ctx, { host: '127.0.0.1' }, ctx.quick ? 100 : 500)));
      const shows =
        'Without root only the last part runs, on loopback: whichever side sends the first FIN is the one left holding TIME_WAIT. ' +
        'tcp_tw_reuse (with the client limited to a few ports) and tcp_fin_timeout (often advised to "shorten TIME_WAIT", which it does not) ' +
        'need sysctls in a network namespace of their own.';
      return { rows, charts: charts(rows, timeline, 0, finShortS), conclusion: conclude(rows, undefined), skipped, shows };
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
    const reusePart = async (topo: typeof t, reuse: 0 | 1): Promise<Row> => {
      const responder = ctx.start([process.execPath, labScript('http-responder'), topo.serverAddress, '8081'], { ns: topo.server });
      await responder.waitFor(/^\{/, 10_000);
      topo.client.sysctl({ 'net.ipv4.ip_local_port_range': `${RANGE_LO} ${RANGE_LO + RANGE_PORTS - 1}`, 'net.ipv4.tcp_tw_reuse': reuse });
      ctx.progress(`tcp_tw_reuse=${reuse}`);
      const b = await bench(ctx, `http://${topo.serverAddress}:8081/`, ['--no-keepalive', '-c', '4', '-d', String(durationS)], { ns: topo.client });
      return {
        part: 'tcp_tw_reuse',
        setting: `tcp_tw_reuse=${reuse}`,
        runS: durationS,
        ok: b.requests.ok,
        // The end of the last second in which a request completed: where tcp_tw_reuse=0 ran out of ports.
        lastOkS: b.timeline.filter((p) => p.requests > 0).at(-1)?.t ?? null,
        // Failed connect attempts, bench's retries included: not requests (connectErrors).
        eaddrnotavail: b.errors.EADDRNOTAVAIL ?? 0,
        timestamps: timestamps === undefined ? null : Number(timestamps),
      };
    };

    // tcp_fin_timeout: the TIME_WAIT timer with 60 and with the short value, and an orphaned
    // FIN_WAIT_2's with the short value. The short one's TIME_WAIT sockets are counted again later.
    let t0 = 0;
    let pShort = 0;
    const finPart = async (): Promise<Row[]> => {
      let p60: number, pNever: number;
      [p60, pShort, pNever] = (await startServers(ctx, t.server, t.serverAddress, ['8083:answer', '8084:answer', '8085:never'])) as [number, number, number];
      const out: Row[] = [];
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
          part: 'tcp_fin_timeout',
          setting: `tcp_fin_timeout=${fin}`,
          state,
          connections: c.closed,
          sockets: socks.length,
          timerS: round(median(socks.map((s) => s.timerExpiresMs)) / 1000, 1),
          peerRsts,
        });
      }
      return out;
    };

    const [reuseRows, [finRows, whoRows]] = await Promise.all([
      Promise.all([reusePart(reuse0, 0), reusePart(reuse1, 1)]),
      (async () => {
        const fin = await finPart();
        return [fin, await whoCloses(ctx, { client: t.client, server: t.server, host: t.serverAddress }, ctx.quick ? 100 : 500)] as const;
      })(),
    ]);
    rows.push(...reuseRows, ...finRows, ...whoRows);

    // The short fin_timeout's TIME_WAIT sockets again: just past fin_timeout in --quick, to their end otherwise.
    const twShort = finRows[1]!;
    const countTw = async () => (await socketsIn(ctx, t.client)).filter((s) => s.state === 'TIME_WAIT' && s.remote.port === pShort).length;
    const firstLookS = finShortS + 0.5;
    const watchS = ctx.quick ? firstLookS : 66;
    timeline = [[0, Number(twShort.sockets)]];
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
    twShort.stillAfterS = timeline[1]![0];
    twShort.stillThere = timeline[1]![1];
    // null: not seen gone — in --quick because nobody waited for TIME_WAIT's 60 s.
    twShort.lastSeenS = lastSeenS;
    twShort.goneAfterS = goneAfterS;
    t.client.sysctl({ 'net.ipv4.tcp_fin_timeout': 60 });
    return {
      rows,
      charts: charts(rows, timeline, durationS, finShortS),
      conclusion: conclude(rows, reuseDelayMs, watchS),
      skipped,
      blanks: { goneAfterS: ctx.quick ? 'not watched' : `not by ${watchS} s` },
    };
  },
};
