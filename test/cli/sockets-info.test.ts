import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { runCli } from '../helpers/cli.ts';
import { hasSs, ssInfo, type SsInfo } from '../helpers/ss.ts';
import type { TcpInfo, SocketMemory } from '../../src/model/socket.ts';

interface JsonSocket {
  state: string;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  txQueue: number;
  info?: TcpInfo;
}

type Get = (i: TcpInfo) => number | null | undefined;
const mem =
  (k: keyof SocketMemory): Get =>
  (i) =>
    i.skmem?.[k];
const floorMs =
  (g: Get): Get =>
  (i) => {
    const v = g(i);
    return v == null ? v : Math.floor(v);
  };

// ss's name, our field, and what ss's silence means: it prints most counters only when non-zero,
// ssthresh only below 0xFFFF, and rto, pacing_rate and rcv_wnd under conditions of its own.
const FIELDS: [string, Get, 'zero' | 'unset' | 'skip'][] = [
  ['rtt', (i) => i.rttMs, 'zero'],
  ['rttvar', (i) => i.rttVarMs, 'skip'],
  ['minrtt', (i) => i.minRttMs, 'zero'],
  ['rto', (i) => i.rtoMs, 'skip'],
  ['cwnd', (i) => i.cwnd, 'zero'],
  ['ssthresh', (i) => i.ssthresh, 'unset'],
  ['mss', (i) => i.mss, 'zero'],
  ['retrans', (i) => i.retransmits, 'zero'],
  ['retrans_total', (i) => i.totalRetrans, 'zero'],
  ['lost', (i) => i.lost, 'zero'],
  ['unacked', (i) => i.unacked, 'zero'],
  ['bytes_sent', (i) => i.bytesSent, 'zero'],
  ['bytes_acked', (i) => i.bytesAcked, 'zero'],
  ['bytes_received', (i) => i.bytesReceived, 'zero'],
  ['bytes_retrans', (i) => i.bytesRetrans, 'zero'],
  ['segs_out', (i) => i.segsOut, 'zero'],
  ['segs_in', (i) => i.segsIn, 'zero'],
  ['notsent', (i) => i.notsentBytes, 'zero'],
  ['delivery_rate', (i) => i.deliveryRateBps, 'zero'],
  ['pacing_rate', (i) => i.pacingRateBps, 'skip'],
  // ss prints whole milliseconds, rounded down, and the limits only when busy is non-zero.
  ['busy', floorMs((i) => i.busyMs), 'zero'],
  ['rwnd_limited', floorMs((i) => i.rwndLimitedMs), 'skip'],
  ['sndbuf_limited', floorMs((i) => i.sndbufLimitedMs), 'skip'],
  ['snd_wnd', (i) => i.sndWnd, 'zero'],
  ['rcv_wnd', (i) => i.rcvWnd, 'skip'],
  ['rcv_space', (i) => i.rcvSpace, 'zero'],
  ['skmem_r', mem('rmemAlloc'), 'skip'],
  ['skmem_rb', mem('rcvBuf'), 'skip'],
  ['skmem_t', mem('wmemAlloc'), 'skip'],
  ['skmem_tb', mem('sndBuf'), 'skip'],
  ['skmem_f', mem('fwdAlloc'), 'skip'],
  ['skmem_w', mem('wmemQueued'), 'skip'],
  ['skmem_o', mem('optMem'), 'skip'],
  ['skmem_bl', mem('backlog'), 'skip'],
  ['skmem_d', mem('drops'), 'skip'],
];

const ep = (e: { address: string; port: number }) => `${e.address}:${e.port}`;

/**
 * Differences between our info and two ss reads around it: a value ss printed must lie between its
 * two readings (counters move; a value that holds still must be equal); a value ss left out must be
 * what its silence means.
 */
function differences(ours: JsonSocket, before: SsInfo, afterSs: SsInfo): string[] {
  const problems: string[] = [];
  const info = ours.info!;
  for (const [name, get, silence] of FIELDS) {
    const v = get(info);
    const b = before.fields.get(name);
    const a = afterSs.fields.get(name);
    const where = `${ep(ours.local)} ${name}`;
    if (b === undefined && a === undefined) {
      if (silence === 'zero' && v !== 0) problems.push(`${where}: ss shows none, we show ${v}`);
      if (silence === 'unset' && !(v === null || v! >= 0xffff)) problems.push(`${where}: ss shows none, we show ${v}`);
      continue;
    }
    const lo = Math.min(b ?? 0, a ?? 0);
    const hi = Math.max(b ?? 0, a ?? 0);
    if (v == null || v < lo - 1e-6 || v > hi + 1e-6) problems.push(`${where}: ss ${b}..${a}, we ${v}`);
  }
  if (before.congestion !== info.congestion)
    problems.push(`${ep(ours.local)} congestion: ss ${before.congestion}, we ${info.congestion}`);
  return problems;
}

describe('sockets -i -m, field by field against ss -tinm', {
  skip: !hasSs() && 'ss (iproute2) is not installed',
}, () => {
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  let idlePort = 0;
  let stuckPort = 0;

  before(async () => {
    // Idle connections: some data each way, all of it read, then nothing moves.
    const idle = createServer((s) => {
      sockets.push(s.on('error', () => {}));
      s.once('data', () => s.write(Buffer.alloc(30_000, 7)));
    });
    servers.push(idle);
    idle.listen({ host: '127.0.0.1', port: 0 });
    await once(idle, 'listening');
    idlePort = (idle.address() as { port: number }).port;
    for (let i = 0; i < 3; i++) {
      const c = connect({ host: '127.0.0.1', port: idlePort }).on('error', () => {});
      sockets.push(c);
      await once(c, 'connect');
      let got = 0;
      const all = new Promise<void>((resolve) => c.on('data', (d: Buffer) => (got += d.length) >= 30_000 && resolve()));
      c.write(Buffer.alloc(10_000, 1));
      await all;
    }
    // A stuck receiver: the server writes more than the buffers hold to a client that never reads,
    // so the sender is limited by the receive window and its send buffer, and counters keep moving.
    const stuck = createServer((s) => {
      sockets.push(s.on('error', () => {}));
      s.write(Buffer.alloc(8 << 20));
    });
    servers.push(stuck);
    stuck.listen({ host: '127.0.0.1', port: 0 });
    await once(stuck, 'listening');
    stuckPort = (stuck.address() as { port: number }).port;
    const c = connect({ host: '127.0.0.1', port: stuckPort }).on('error', () => {});
    c.pause();
    sockets.push(c);
    await once(c, 'connect');
    await new Promise((r) => setTimeout(r, 600));
  });
  after(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  for (const which of ['idle', 'stuck'] as const) {
    test(`${which} connections: every tcp_info, congestion and skmem field as ss shows it`, async () => {
      const port = which === 'idle' ? idlePort : stuckPort;
      const filter = ['state', 'established', `( sport = :${port} or dport = :${port} )`];
      let last: string[] = [];
      for (let attempt = 0; attempt < 8; attempt++) {
        const before = ssInfo(filter);
        const r = await runCli(['sockets', '-i', '-m', '--port', String(port), '--state', 'estab', '--json']);
        const afterSs = ssInfo(filter);
        assert.equal(r.code, 0, r.stderr);
        const ours = JSON.parse(r.stdout).sockets as JsonSocket[];
        assert.equal(ours.length, which === 'idle' ? 6 : 2);
        last = [];
        for (const s of ours) {
          const find = (list: SsInfo[]) => list.find((x) => x.local === ep(s.local) && x.peer === ep(s.remote));
          const b = find(before);
          const a = find(afterSs);
          if (!b || !a) {
            last.push(`${ep(s.local)} not in ss`);
            continue;
          }
          last.push(...differences(s, b, a));
        }
        if (which === 'stuck') {
          const sender = ours.find((s) => s.local.port === port)!;
          assert.ok(sender.info!.rwndLimitedMs! > 0, 'the sender waits on the receiver window');
          assert.ok(sender.info!.notsentBytes! > 0, 'data written but not yet sent');
        }
        if (last.length === 0) return;
      }
      assert.fail(last.join('\n'));
    });
  }

  test('--by peer -i: count, RTT median and p99, retransmits per peer, as ss reports them', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const filter = ['state', 'established', `( sport = :${idlePort} or dport = :${idlePort} )`];
      const before = ssInfo(filter);
      const r = await runCli([
        'sockets',
        '-i',
        '--port',
        String(idlePort),
        '--state',
        'estab',
        '--by',
        'peer',
        '--json',
      ]);
      const afterSs = ssInfo(filter);
      const rtts = (list: SsInfo[]) => list.map((x) => x.fields.get('rtt')!).sort((a, b) => a - b);
      if (JSON.stringify(rtts(before)) !== JSON.stringify(rtts(afterSs))) continue;
      const groups = JSON.parse(r.stdout).groups as {
        key: string;
        count: number;
        rttMedianMs: number;
        rttP99Ms: number;
        totalRetrans: number;
      }[];
      assert.equal(groups.length, 1);
      const sorted = rtts(before);
      assert.equal(groups[0]!.key, '127.0.0.1');
      assert.equal(groups[0]!.count, 6);
      assert.equal(groups[0]!.rttMedianMs, sorted[2], 'nearest rank: the 3rd of 6');
      assert.equal(groups[0]!.rttP99Ms, sorted[5]);
      assert.equal(
        groups[0]!.totalRetrans,
        before.reduce((n, x) => n + (x.fields.get('retrans_total') ?? 0), 0),
      );
      const text = await runCli(['sockets', '-i', '--port', String(idlePort), '--state', 'estab', '--by', 'peer']);
      assert.match(text.stdout, /peer\s+Count\s+Share\s+RTT p50 ms\s+RTT p99 ms\s+Retrans/);
      return;
    }
    assert.fail('RTTs never held still');
  });

  test('--sort rtt, retrans and sendq list the worst first', async () => {
    for (const [key, get] of [
      ['rtt', (s: JsonSocket) => s.info?.rttMs ?? -1],
      ['retrans', (s: JsonSocket) => s.info?.totalRetrans ?? -1],
      ['sendq', (s: JsonSocket) => s.txQueue],
    ] as const) {
      const r = await runCli(['sockets', '--sort', key, '--state', 'estab', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const values = (JSON.parse(r.stdout).sockets as JsonSocket[]).map(get);
      assert.ok(values.length >= 8);
      assert.deepEqual(
        values,
        [...values].sort((a, b) => b - a),
        `--sort ${key}`,
      );
    }
    // Other programs on this host may queue more: pick among this test's own pair.
    const top = await runCli([
      'sockets',
      '--sort',
      'sendq',
      '--top',
      '1',
      '--port',
      String(stuckPort),
      '--state',
      'estab',
      '--json',
    ]);
    const worst = (JSON.parse(top.stdout).sockets as JsonSocket[])[0]!;
    assert.equal(worst.local.port, stuckPort, 'the stuck sender has the largest send queue');
  });

  test('the text listing has the tcp_info and skmem columns', async () => {
    const r = await runCli(['sockets', '-i', '-m', '--port', String(idlePort), '--state', 'estab']);
    assert.equal(r.code, 0, r.stderr);
    const header = r.stdout.split('\n')[0]!;
    for (const col of [
      'RTT ms',
      'Var ms',
      'Cwnd',
      'Ssthresh',
      'Retrans',
      'Lost',
      'Acked',
      'Received',
      'Delivery',
      'Busy ms',
      'Rwnd-lim',
      'Sndbuf-lim',
      'Cong',
      'Rmem',
      'Sndbuf',
      'Drops',
    ]) {
      assert.ok(header.includes(col), `column ${col} in: ${header}`);
    }
    assert.equal(r.stdout.trim().split('\n').length, 7);
  });
});
