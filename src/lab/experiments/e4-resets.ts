// E4 of the lab: a peer that aborts (RST) is noticed at once; a peer that vanishes
// silently (its link down) is noticed only by TCP keepalive, and only as soon as keepalive is set to.

import type { Netns } from '../../kernel/netns.ts';
import type { Cell, Experiment, ExperimentOutcome, LabChart, LabContext, LabProcess } from '../experiment.ts';
import { labScript, round, socketsIn, sysctlIn } from '../steps.ts';
import { setTimeout as sleep } from 'node:timers/promises';

type Row = Record<string, Cell>;

interface Peer {
  proc: LabProcess;
  localPort: number;
}

interface ClientEvent {
  event: 'error' | 'end' | 'close';
  code?: string;
  atMs: number;
}

async function startServer(
  ctx: LabContext,
  ns: Netns | undefined,
  host: string,
): Promise<{ proc: LabProcess; resetPort: number; holdPort: number }> {
  const proc = ctx.start([process.execPath, labScript('peer'), 'server', host, ns ? '8080' : '0', ns ? '8081' : '0'], {
    ns,
  });
  const [resetPort, holdPort] = (JSON.parse(await proc.waitFor(/^\{"ports"/, 10_000)) as { ports: [number, number] })
    .ports;
  return { proc, resetPort, holdPort };
}

async function startClient(
  ctx: LabContext,
  ns: Netns | undefined,
  host: string,
  port: number,
  keepalive: string,
): Promise<Peer> {
  const proc = ctx.start([process.execPath, labScript('peer'), 'client', host, String(port), keepalive], {
    ns,
    timeoutMs: 120_000,
  });
  const first = JSON.parse(await proc.waitFor(/^\{"connected"/, 10_000)) as { localPort: number };
  return { proc, localPort: first.localPort };
}

/** The first error or end the client saw, if any. */
function firstEvent(p: Peer): ClientEvent | undefined {
  for (const line of p.proc.lines) {
    if (!line.startsWith('{"event"')) continue;
    const e = JSON.parse(line) as ClientEvent;
    if (e.event !== 'close') return e;
  }
  return undefined;
}

/** The keepalive timer the kernel shows for the client's socket: when its next probe is due. */
async function keepaliveTimerS(ctx: LabContext, ns: Netns | undefined, p: Peer): Promise<number | null> {
  const s = (await socketsIn(ctx, ns)).find((x) => x.local.port === p.localPort && x.state === 'ESTABLISHED');
  return s && s.timer === 'keepalive' ? round(s.timerExpiresMs / 1000, 1) : null;
}

type Server = Awaited<ReturnType<typeof startServer>>;

async function abortCase(ctx: LabContext, server: Server, where: { client?: Netns; host: string }): Promise<Row> {
  ctx.progress('abort: resetAndDestroy on the server');
  const c = await startClient(ctx, where.client, where.host, server.resetPort, 'off');
  await sleep(100);
  server.proc.kill('SIGUSR1');
  const reset = JSON.parse(await server.proc.waitFor(/^\{"resetAtMs"/, 5_000)) as { resetAtMs: number };
  await c.proc.waitFor(/^\{"event"/, 5_000).catch(() => '');
  const e = firstEvent(c);
  return {
    part: 'peer aborts (RST)',
    // The client: what the server does is the table's title.
    client: 'keepalive off',
    keepalive: 'off',
    keepaliveTimerS: null,
    detected: e?.code ?? e?.event ?? 'nothing',
    detectedAfterMs: e ? round(e.atMs - reset.resetAtMs, 2) : null,
  };
}

/** A vanished-peer case that --quick does not wait for: Node's setKeepAlive(true, ms), whose libuv sends 10 probes. */
export const NOT_WAITED = 'not waited for (--quick)';
/** libuv's keepalive after setKeepAlive(true, ms): probes every 1 s, 10 of them unanswered before the peer is given up. */
const LIBUV_PROBES = 10;
const LIBUV_INTERVAL_S = 1;

export function conclude(rows: Row[], waitedS: number): string {
  const parts: string[] = [];
  const abort = rows.find((r) => r.part === 'peer aborts (RST)');
  if (abort) {
    parts.push(
      abort.detectedAfterMs !== null && Number(abort.detectedAfterMs) < 1000
        ? `An abort was seen as ${abort.detected} ${abort.detectedAfterMs} ms after resetAndDestroy(), with no keepalive at all.`
        : `The abort was not seen within a second (${abort.detected}).`,
    );
  }
  const vanished = rows.filter((r) => r.part === 'peer vanishes (link down)');
  const notWaited = vanished.filter((r) => r.detected === NOT_WAITED);
  const seen = vanished.filter((r) => r.detectedAfterMs !== null);
  const unseen = vanished.filter((r) => r.detectedAfterMs === null && r.detected !== NOT_WAITED);
  const libuv = (r: Row) => /^setKeepAlive\(true, \d+\)$/.test(String(r.keepalive));
  const idleS = (r: Row) => Number(/(\d+)\)$/.exec(String(r.keepalive))?.[1] ?? 0) / 1000;
  const arithmetic = (r: Row) =>
    `${idleS(r)} s idle, then sends ${LIBUV_PROBES} probes ${LIBUV_INTERVAL_S} s apart: about ${idleS(r) + LIBUV_PROBES * LIBUV_INTERVAL_S} s`;
  if (vanished.length) {
    if (unseen.length) {
      parts.push(
        `After the peer's link went down, ${unseen.map((r) => `${r.keepalive}`).join(' and ')} noticed nothing within ${waitedS} s.`,
      );
      for (const r of unseen) {
        if (typeof r.keepaliveTimerS === 'number' && r.keepaliveTimerS > waitedS)
          parts.push(`${r.keepalive} would send its first probe only ${r.keepaliveTimerS} s after the last packet.`);
      }
    }
    for (const r of seen)
      parts.push(
        `${r.keepalive}: ${r.detected} after ${round(Number(r.detectedAfterMs) / 1000, 1)} s${libuv(r) ? ` (${arithmetic(r)})` : ''}.`,
      );
    if (seen.length === 0) parts.push('No keepalive setting detected the silent peer within the wait.');
    for (const r of notWaited) {
      parts.push(
        `${r.keepalive} was not waited for in --quick: ${libuv(r) ? `libuv waits ${arithmetic(r)} after the last packet before it gives the peer up` : 'it takes longer than --quick waits'}; a full run measures it.`,
      );
    }
  }
  return parts.join(' ');
}

function charts(rows: Row[], waitedS: number): LabChart[] {
  const label = (r: Row): [string] => [r.part === 'peer aborts (RST)' ? 'abort (RST)' : String(r.client)];
  return [
    {
      title: `Time until the client learns its peer is gone (not detected: drawn at the ${waitedS} s wait)`,
      kind: 'bar',
      xLabel: 'case',
      yLabel: 'seconds',
      series: [
        {
          label: 'detected after',
          points: rows
            .filter((r) => r.detectedAfterMs !== null)
            .map((r): [string, number] => [...label(r), Number(r.detectedAfterMs) / 1000]),
        },
        {
          label: 'not detected within the wait',
          points: rows
            .filter((r) => r.detectedAfterMs === null && r.detected !== NOT_WAITED)
            .map((r): [string, number] => [...label(r), waitedS]),
        },
      ].filter((s) => s.points.length > 0),
    },
  ];
}

export const experiment: Experiment = {
  id: 'E4',
  title: 'Resets: an abort vs a peer that vanishes',
  shows:
    'An idle client connection loses its peer in two ways. An abort (socket.resetAndDestroy(), an RST) is seen at once as ' +
    'ECONNRESET: no keepalive is needed for that. A peer that vanishes silently (here its network link is taken down) sends ' +
    'nothing: an idle connection then looks healthy for as long as nobody sends, and only TCP keepalive probes find out — after ' +
    "the kernel's 7200 s by default. Node's socket.setKeepAlive(true, ms) sets the idle time; libuv then sends 10 probes 1 s " +
    'apart. SO_KEEPALIVE alone uses the tcp_keepalive_* sysctls, set here inside the client namespace only.',
  rootFor: 'the vanished peer',
  async run(ctx): Promise<ExperimentOutcome> {
    // --quick waits for the sysctl-tuned client only (1 s + 3 probes): libuv's 10 probes would double the run.
    const waitS = ctx.quick ? 7 : 30;
    const rows: Row[] = [];
    const skipped: string[] = [];
    if (!ctx.root) {
      rows.push(await abortCase(ctx, await startServer(ctx, undefined, '127.0.0.1'), { host: '127.0.0.1' }));
      skipped.push('the silently vanishing peer: taking its link down needs network namespaces of its own (root)');
      const shows =
        'An idle client connection loses its peer in two ways; without root only the first runs, on loopback. An abort ' +
        '(socket.resetAndDestroy(), an RST) is seen at once as ECONNRESET: no keepalive is needed for that. A peer that vanishes ' +
        "silently sends nothing, and only TCP keepalive probes find out — after the kernel's 7200 s by default; showing it takes " +
        'a network link to take down, in namespaces of its own (root).';
      return {
        rows,
        charts: charts(rows, waitS),
        conclusion: conclude(rows, waitS),
        skipped,
        hidden: ['keepalive'],
        shows,
      };
    }
    // Two pairs of namespaces: keepalive sysctls are per namespace, and one client keeps the kernel's defaults.
    const [a, b] = await Promise.all([ctx.topology(), ctx.topology()]);
    const kaTime = (await sysctlIn(ctx, a.client, 'net.ipv4.tcp_keepalive_time')) ?? '?';
    const kaIntvl = (await sysctlIn(ctx, a.client, 'net.ipv4.tcp_keepalive_intvl')) ?? '?';
    const kaProbes = (await sysctlIn(ctx, a.client, 'net.ipv4.tcp_keepalive_probes')) ?? '?';
    b.client.sysctl({
      'net.ipv4.tcp_keepalive_time': 1,
      'net.ipv4.tcp_keepalive_intvl': 1,
      'net.ipv4.tcp_keepalive_probes': 3,
    });
    const [sa, sb] = await Promise.all([
      startServer(ctx, a.server, a.serverAddress),
      startServer(ctx, b.server, b.serverAddress),
    ]);
    rows.push(await abortCase(ctx, sa, { client: a.client, host: a.serverAddress }));
    ctx.progress('connecting idle clients');
    const cases: { label: string; short: string; ns: Netns; host: string; port: number; keepalive: string }[] = [
      {
        label: 'keepalive off',
        short: 'keepalive off',
        ns: a.client,
        host: a.serverAddress,
        port: sa.holdPort,
        keepalive: 'off',
      },
      {
        label: `SO_KEEPALIVE, kernel defaults (${kaTime} s, ${kaIntvl} s x ${kaProbes})`,
        short: 'kernel defaults',
        ns: a.client,
        host: a.serverAddress,
        port: sa.holdPort,
        keepalive: 'on',
      },
      {
        label: 'setKeepAlive(true, 1000)',
        short: 'setKeepAlive 1 s',
        ns: b.client,
        host: b.serverAddress,
        port: sb.holdPort,
        keepalive: '1000',
      },
      {
        label: 'SO_KEEPALIVE, sysctls 1 s, 1 s x 3',
        short: 'sysctls 1 s/1 s/3',
        ns: b.client,
        host: b.serverAddress,
        port: sb.holdPort,
        keepalive: 'on',
      },
    ];
    // Still connected in --quick, so that its keepalive timer is read from the kernel all the same.
    const waited = cases.map((c) => !(ctx.quick && c.keepalive !== 'off' && c.keepalive !== 'on'));
    const peers = await Promise.all(cases.map((c) => startClient(ctx, c.ns, c.host, c.port, c.keepalive)));
    await sleep(300);
    const timers = await Promise.all(peers.map((p, i) => keepaliveTimerS(ctx, cases[i]!.ns, p)));

    // Both servers' links go down at once; the clients' own links stay up, so nothing tells them.
    const downAt = performance.timeOrigin + performance.now();
    a.setLink(false);
    b.setLink(false);
    const deadline = Date.now() + waitS * 1000;
    // Waiting ends once every client whose keepalive can fire within the wait has heard; the others
    // are reported as not detected within the time actually waited.
    const canFire = (i: number) => waited[i]! && timers[i] !== null && timers[i]! < waitS;
    while (
      Date.now() < deadline &&
      peers.some((p, i) => !firstEvent(p) && (canFire(i) || peers.every((_, j) => !canFire(j))))
    ) {
      ctx.progress(
        `peers gone: waiting for the clients to notice, ${Math.round(waitS - (deadline - Date.now()) / 1000)} of ${waitS} s`,
      );
      await sleep(250);
    }
    const waitedS = round((performance.timeOrigin + performance.now() - downAt) / 1000, 1);
    cases.forEach((c, i) => {
      const e = firstEvent(peers[i]!);
      rows.push({
        part: 'peer vanishes (link down)',
        client: c.short,
        keepalive: c.label,
        keepaliveTimerS: timers[i] ?? null,
        detected: e ? (e.code ?? e.event) : waited[i] ? `nothing within ${waitedS} s` : NOT_WAITED,
        detectedAfterMs: e ? round(e.atMs - downAt, 0) : null,
      });
    });
    // The long wording is the conclusion's; the table's client column names the same case in short.
    return { rows, charts: charts(rows, waitedS), conclusion: conclude(rows, waitedS), skipped, hidden: ['keepalive'] };
  },
};
