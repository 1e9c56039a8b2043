// E3 of the lab: a server that accepts slowly behind a small backlog, hit by a burst of
// connections — accept-queue overflows, the 1 s / 3 s SYN-retransmit steps in connect time, SYN cookies.

import type { Netns } from '../../kernel/netns.ts';
import type { Cell, Experiment, ExperimentOutcome, LabChart, LabContext } from '../experiment.ts';
import { counterDelta, countersIn, labScript, round, runScriptJson, sysctlIn } from '../steps.ts';
import type { BurstResult } from '../scripts/burst.ts';
import { percentile } from '../../text/percentile.ts';

type Row = Record<string, Cell>;

const BACKLOG = 8;
const BLOCK_MS = 100;
// Connect-time bands a second wide around whole seconds: a SYN resent after a drop leaves 1 s after the
// first (initial RTO), then 3 s and 7 s with exponential backoff — or 2, 3, 4 s on kernels whose
// tcp_syn_linear_timeouts (6.7+, default 4) spaces the first retransmits linearly.
const BANDS = [
  { key: 'under0_5s', label: '< 0.5 s', from: 0, to: 500, at: 0 },
  { key: 'near1s', label: '~1 s', from: 500, to: 1500, at: 1 },
  { key: 'near2s', label: '~2 s', from: 1500, to: 2500, at: 2 },
  { key: 'near3s', label: '~3 s', from: 2500, to: 3500, at: 3 },
  { key: 'near4to6s', label: '3.5-6.5 s', from: 3500, to: 6500, at: 5 },
  { key: 'near7s', label: '~7 s and later', from: 6500, to: 600_000, at: 7 },
] as const;

interface Where {
  client?: Netns;
  server?: Netns;
  host: string;
  port: number;
}

async function burst(
  ctx: LabContext,
  w: Where,
  syncookies: string,
  connections: number,
  withinS: number,
): Promise<Row> {
  ctx.progress(`burst of ${connections} connections, tcp_syncookies=${syncookies}`);
  const before = await countersIn(ctx, w.server);
  const clientBefore = w.client ? await countersIn(ctx, w.client) : before;
  const b = await runScriptJson<BurstResult>(
    ctx,
    { host: w.host, clientNs: w.client, where: '' },
    'burst',
    { host: w.host, port: w.port, count: connections, timeoutMs: withinS * 1000 },
    (withinS + 20) * 1000,
  );
  const after = await countersIn(ctx, w.server);
  const clientAfter = w.client ? await countersIn(ctx, w.client) : after;
  const row: Row = {
    syncookies: Number(syncookies),
    connections,
    // The client's view: connect() returned. With SYN cookies that says little about the server (see conclude).
    connected: b.connectMs.length,
    notConnected: b.notConnected,
    // What the server really did: requests answered within the timeout.
    served: b.served,
    requestErrors:
      Object.entries(b.errors)
        .map(([code, n]) => `${code} ${n}`)
        .join(', ') || 'none',
  };
  // Only the bands that start before the deadline: later ones are empty by construction.
  for (const band of BANDS)
    if (band.from < withinS * 1000) row[band.key] = b.connectMs.filter((ms) => ms >= band.from && ms < band.to).length;
  Object.assign(row, {
    connectP50Ms: round(percentile(b.connectMs, 50), 1),
    connectMaxMs: round(Math.max(0, ...b.connectMs), 0),
    requestP99Ms: round(percentile(b.requestMs, 99), 0),
    listenOverflows: counterDelta(before, after, 'TcpExt.ListenOverflows'),
    listenDrops: counterDelta(before, after, 'TcpExt.ListenDrops'),
    cookiesSent: counterDelta(before, after, 'TcpExt.SyncookiesSent'),
    reqQFullDrop: counterDelta(before, after, 'TcpExt.TCPReqQFullDrop'),
    synRetrans: counterDelta(clientBefore, clientAfter, 'TcpExt.TCPSynRetrans'),
  });
  return row;
}

const unanswered = (r: Row) => Math.max(0, Number(r.connected) - Number(r.served));

export function conclude(rows: Row[], withinS: number, linearTimeouts: string | undefined): string {
  const parts: string[] = [];
  for (const r of rows) {
    const stepped = BANDS.filter((b) => b.at > 0 && Number(r[b.key]) > 0);
    parts.push(
      `tcp_syncookies=${r.syncookies}: ${r.connections} connections at once against a backlog of ${BACKLOG} made ${r.listenOverflows} accept-queue overflows ` +
        `(ListenOverflows) and ${r.cookiesSent} SYN cookies${Number(r.reqQFullDrop) > 0 ? `, ${r.reqQFullDrop} SYNs dropped with the SYN queue full` : ''}; ` +
        (stepped.length > 0
          ? `${r.under0_5s} connected within 0.5 s, then ${stepped.map((b) => `${r[b.key]} at ${b.label}`).join(', ')}: the steps of resent SYNs (${r.synRetrans} retransmitted)`
          : `all ${r.under0_5s} that connected did so within 0.5 s, with no SYN-retransmit step`) +
        (Number(r.notConnected) > 0 ? `; ${r.notConnected} had not connected within ${withinS} s` : '') +
        `; ${r.served} requests were answered within ${withinS} s.`,
    );
  }
  const all = rows.flatMap((r) => BANDS.filter((b) => b.at > 0 && Number(r[b.key]) > 0).map((b) => b.at));
  if (all.includes(2) && linearTimeouts !== undefined && Number(linearTimeouts) > 0) {
    const n = Number(linearTimeouts);
    // The first n resends 1 s apart: at 1, 2, …, n s after the first SYN.
    const at = n <= 6 ? Array.from({ length: n }, (_, i) => i + 1).join(', ') : `1, 2, 3, …, ${n}`;
    parts.push(
      `A step at ~2 s is this kernel's: tcp_syn_linear_timeouts=${linearTimeouts} resends the first ${linearTimeouts} SYN${n === 1 ? '' : 's'} 1 s apart (${at} s), where older kernels back off to 1, 3, 7 s.`,
    );
  }
  const on = rows.find((r) => r.syncookies === 1);
  const off = rows.find((r) => r.syncookies === 0);
  if (on && off) {
    const cOn = Number(on.connected);
    const cOff = Number(off.connected);
    const sOn = Number(on.served);
    const sOff = Number(off.served);
    // Served counts of a few dozen move by a few from run to run: closer than this is "the same".
    const same = Math.abs(sOn - sOff) <= Math.max(3, 0.15 * Math.max(sOn, sOff));
    const clientView =
      cOn > cOff
        ? `With SYN cookies connect() succeeded for ${cOn} of ${on.connections} clients within ${withinS} s, without them for ${cOff}: ` +
          `a cookie answers a SYN that the full SYN queue would drop (TCPReqQFullDrop ${off.reqQFullDrop} without), so the client's handshake completes. `
        : `SYN cookies did not let more clients connect here (${cOn} with, ${cOff} without, of ${on.connections}). `;
    const served = same
      ? `But the server answered about as many requests either way (${sOn} with cookies, ${sOff} without): `
      : sOn > sOff
        ? `The server answered more requests with them (${sOn} vs ${sOff}), `
        : `Yet the server answered fewer requests with them (${sOn} vs ${sOff}): `;
    const why =
      `a connection the client thinks open still needs a place in the accept queue, and while that is full the server drops the client's ACK and request ` +
      `(ListenOverflows ${on.listenOverflows} with cookies, ${off.listenOverflows} without) until the slow acceptor makes room. ` +
      `With cookies ${unanswered(on)} of the ${cOn} connected clients got no answer within ${withinS} s (${on.requestErrors}); ` +
      `without them ${unanswered(off)} of ${cOff}, and ${off.notConnected} never connected. ` +
      (same || sOn <= sOff
        ? 'How many were served was set by how fast the server accepted, not by cookies: they change where a client waits (on a connection it believes open rather than in connect()), not how many get served.'
        : 'Cookies helped here beyond the handshake, but the accept queue, not the SYN queue, still set the pace.');
    parts.push(clientView + served + why);
  }
  return parts.join(' ');
}

function charts(rows: Row[]): LabChart[] {
  const name = (r: Row) => `syncookies=${r.syncookies}`;
  return [
    {
      title: 'What the burst got: requests answered, connected but unanswered, never connected',
      kind: 'bar',
      xLabel: 'outcome',
      yLabel: 'connections',
      series: rows.map((r) => ({
        label: name(r),
        points: [
          ['answered', Number(r.served)],
          ['connected, no answer', unanswered(r)],
          ['not connected', Number(r.notConnected)],
        ] as [string, number][],
      })),
    },
    {
      title: 'Connect time as the client saw it (connect() returned; with cookies that is before the server accepts)',
      kind: 'bar',
      xLabel: 'connect time',
      yLabel: 'connections',
      series: rows.map((r) => ({
        label: name(r),
        points: [
          ...BANDS.filter((b) => b.key in r).map((b) => [b.label, Number(r[b.key])] as [string, number]),
          ['not connected', Number(r.notConnected)] as [string, number],
        ],
      })),
    },
    {
      title: 'Kernel counters during the burst (server namespace; SYN retransmits on the client)',
      kind: 'bar',
      xLabel: 'counter',
      yLabel: 'count',
      series: rows.map((r) => ({
        label: name(r),
        points: [
          ['ListenOverflows', Number(r.listenOverflows)],
          ['SyncookiesSent', Number(r.cookiesSent)],
          ['TCPReqQFullDrop', Number(r.reqQFullDrop)],
          ['TCPSynRetrans', Number(r.synRetrans)],
        ],
      })),
    },
  ];
}

const NS_SENTENCE =
  "Counters are read inside the server's namespace; the two settings run side by side, each in a namespace pair of its own.";
const LOOPBACK_SENTENCE =
  "Without root it runs once, on loopback, with the host's tcp_syncookies; the counters are then the whole host's.";

export const experiment: Experiment = {
  id: 'E3',
  title: 'Queue overflow: a slow acceptor, a small backlog, a burst',
  shows:
    `A server whose event loop is blocked ${BLOCK_MS} ms at a time (as by CPU-bound work) listens with a backlog of ${BACKLOG}; a burst of ` +
    'clients connects at once, each trying once to connect and get one answer. Once the accept queue is full the kernel drops new SYNs and final ACKs (ListenOverflows): the ' +
    'client hears nothing and resends its SYN after 1 s, then 3 s (or 2, 3, 4 s where tcp_syn_linear_timeouts is set), so connect ' +
    'times fall into steps a latency average hides. With ' +
    'tcp_syncookies=1 a full SYN queue answers with cookies instead of dropping; with 0 it drops — which changes what the client sees ' +
    '(connected or not), so what the server really answered is counted apart. ' +
    NS_SENTENCE,
  rootFor: 'syncookies off',
  async run(ctx): Promise<ExperimentOutcome> {
    const connections = ctx.quick ? 100 : 300;
    // Long enough for the second SYN retransmit (3 s after the first SYN) to land; longer in a full run.
    const withinS = ctx.quick ? 3.5 : 8;
    const rows: Row[] = [];
    const skipped: string[] = [];
    let linear: string | undefined;
    if (ctx.root) {
      // Both settings side by side, each in a namespace pair of its own: half the wall time, and the
      // kernel queues measured are per namespace.
      const runOne = async (cookies: string): Promise<Row> => {
        const t = await ctx.topology();
        t.server.sysctl({ 'net.ipv4.tcp_syncookies': cookies });
        const server = ctx.start(
          [process.execPath, labScript('slow-accept'), t.serverAddress, '8080', String(BACKLOG), String(BLOCK_MS)],
          { ns: t.server },
        );
        await server.waitFor(/^\{/, 10_000);
        linear ??= await sysctlIn(ctx, t.client, 'net.ipv4.tcp_syn_linear_timeouts');
        return burst(
          ctx,
          { client: t.client, server: t.server, host: t.serverAddress, port: 8080 },
          cookies,
          connections,
          withinS,
        );
      };
      rows.push(...(await Promise.all(['1', '0'].map(runOne))));
    } else {
      const server = ctx.start([
        process.execPath,
        labScript('slow-accept'),
        '127.0.0.1',
        '0',
        String(BACKLOG),
        String(BLOCK_MS),
      ]);
      const port = (JSON.parse(await server.waitFor(/^\{/, 10_000)) as { port: number }).port;
      const cookies = (await sysctlIn(ctx, undefined, 'net.ipv4.tcp_syncookies')) ?? '1';
      linear = await sysctlIn(ctx, undefined, 'net.ipv4.tcp_syn_linear_timeouts');
      rows.push(await burst(ctx, { host: '127.0.0.1', port }, cookies, connections, withinS));
      skipped.push(
        `tcp_syncookies on vs off: it needs a namespace of its own (root); ran once with the host's setting (${cookies}), on loopback, where the counters are the whole host's`,
      );
    }
    // The catalogue's last sentence is about the namespaces; without root the run was on loopback.
    const shows = ctx.root ? undefined : experiment.shows.replace(NS_SENTENCE, LOOPBACK_SENTENCE);
    return { rows, charts: charts(rows), conclusion: conclude(rows, withinS, linear), skipped, shows };
  },
};
