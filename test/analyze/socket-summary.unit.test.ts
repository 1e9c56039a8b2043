import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRow, scanTcpLines, type TcpRow } from '../../src/kernel/proc-net-tcp.ts';
import { ephemeralRange } from '../../src/kernel/ephemeral-range.ts';
import { SummaryBuilder, annotateListeners } from '../../src/analyze/socket-summary.ts';
import { compileFilter, parsePeer } from '../../src/analyze/socket-filter.ts';
import { parseStateName } from '../../src/model/tcp-state.ts';

// A compact way to write /proc/net/tcp lines: state, local, remote (IPv4 only).
function line(i: number, state: number, local: string, remote: string, rx = 0, inode = 100 + i): string {
  const hex = (ep: string) => {
    const [ip, port] = ep.split(':');
    const word = ip!
      .split('.')
      .map(Number)
      .reduceRight((acc, b) => acc * 256 + b, 0); // host order (LE)
    return `${word.toString(16).toUpperCase().padStart(8, '0')}:${Number(port).toString(16).toUpperCase().padStart(4, '0')}`;
  };
  return `${String(i).padStart(4)}: ${hex(local)} ${hex(remote)} ${state.toString(16).toUpperCase().padStart(2, '0')} 00000000:${rx.toString(16).padStart(8, '0')} 00:00000000 00000000     0        0 ${inode} 1 0 100 0 0 10 0`;
}

function scan(lines: string[], visit: (r: TcpRow) => void): void {
  const buf = Buffer.from(['  sl  local_address rem_address', ...lines].join('\n') + '\n');
  scanTcpLines(buf, 0, buf.length, newRow('ipv4'), visit, true);
}

const LISTEN = 10,
  ESTAB = 1,
  TIME_WAIT = 6,
  CLOSE_WAIT = 8;

test('counts by state, TIME_WAIT share, and listeners with their accept queue', () => {
  const b = new SummaryBuilder();
  scan(
    [
      line(0, LISTEN, '127.0.0.1:8080', '0.0.0.0:0', 5, 900),
      line(1, ESTAB, '127.0.0.1:8080', '127.0.0.1:40000'),
      line(2, TIME_WAIT, '127.0.0.1:40001', '127.0.0.1:8080', 0, 0),
      line(3, TIME_WAIT, '127.0.0.1:40002', '127.0.0.1:8080', 0, 0),
    ],
    (r) => b.add(r),
  );
  const s = b.result();
  assert.equal(s.total, 4);
  assert.equal(s.byState.ESTABLISHED, 1);
  assert.equal(s.byState.TIME_WAIT, 2);
  assert.equal(s.byState.LISTEN, 1);
  assert.equal(s.byState.CLOSE_WAIT, 0, 'every kernel state is present, zero or not');
  assert.equal(s.timeWaitShare, 0.5);
  assert.equal(s.listeners.length, 1);
  assert.equal(s.listeners[0]!.queue, 5);
  assert.equal(s.listeners[0]!.maxQueue, null, 'unknown until inet_diag tells');
  annotateListeners(s.listeners, new Map([[900, 10]]));
  assert.equal(s.listeners[0]!.maxQueue, 10);
  assert.equal(s.listeners[0]!.fill, 0.5);
});

test('ephemeral ports are counted per destination against the range minus reserved ports', () => {
  const range = ephemeralRange('40000\t40099', '40050-40059,8080');
  assert.equal(range.usable, 90);
  const b = new SummaryBuilder(range);
  scan(
    [
      line(0, LISTEN, '0.0.0.0:40090', '0.0.0.0:0'),
      line(1, ESTAB, '10.0.0.1:40000', '10.0.0.9:80'),
      line(2, TIME_WAIT, '10.0.0.1:40001', '10.0.0.9:80', 0, 0),
      line(3, TIME_WAIT, '10.0.0.1:40002', '10.0.0.9:80', 0, 0),
      line(4, ESTAB, '10.0.0.1:40000', '10.0.0.7:443'), // same local port, other destination
      line(5, ESTAB, '10.0.0.1:40055', '10.0.0.9:80'), // reserved: not ephemeral
      line(6, ESTAB, '10.0.0.1:39999', '10.0.0.9:80'), // outside the range
      line(7, ESTAB, '10.0.0.1:40090', '10.0.0.5:5555'), // accepted by the listener on 40090
    ],
    (r) => b.add(r),
  );
  const e = b.result().ephemeral!;
  assert.equal(e.usable, 90);
  assert.equal(e.reservedInRange, 10);
  assert.equal(e.portsInUse, 3, '40000, 40001, 40002');
  assert.deepEqual(
    e.destinations.map((d) => [d.remote.address, d.remote.port, d.ports, d.timeWait]),
    [
      ['10.0.0.9', 80, 3, 2],
      ['10.0.0.7', 443, 1, 0],
    ],
  );
  assert.equal(e.destinations[0]!.share, 3 / 90);
});

test('filters by state, ports and peer', () => {
  const rows = [
    line(0, LISTEN, '127.0.0.1:8080', '0.0.0.0:0'),
    line(1, ESTAB, '127.0.0.1:8080', '127.0.0.1:40000'),
    line(2, CLOSE_WAIT, '10.0.0.1:40001', '10.0.0.9:80'),
    line(3, TIME_WAIT, '10.0.0.1:40002', '10.0.0.8:80'),
  ];
  const pick = (f: Parameters<typeof compileFilter>[0]) => {
    const pass = compileFilter(f);
    const out: number[] = [];
    scan(rows, (r) => pass(r) && out.push(r.inode));
    return out;
  };
  assert.deepEqual(pick({}), [100, 101, 102, 103]);
  assert.deepEqual(pick({ states: [parseStateName('time-wait'), parseStateName('close_wait')] }), [102, 103]);
  assert.deepEqual(pick({ port: 8080 }), [100, 101]);
  assert.deepEqual(pick({ sport: 40001 }), [102]);
  assert.deepEqual(pick({ dport: 80 }), [102, 103]);
  assert.deepEqual(pick({ peer: '10.0.0.9' }), [102]);
  assert.deepEqual(pick({ peer: '10.0.0.8:80' }), [103]);
  assert.deepEqual(pick({ peer: '10.0.0.8:81' }), []);
});

test('state names: kernel names in any case, dashes, and ss aliases; unknown ones are a usage error', () => {
  assert.equal(parseStateName('time-wait'), 'TIME_WAIT');
  assert.equal(parseStateName('TIME_WAIT'), 'TIME_WAIT');
  assert.equal(parseStateName('estab'), 'ESTABLISHED');
  assert.equal(parseStateName('fin-wait-1'), 'FIN_WAIT1');
  assert.equal(parseStateName('Listen'), 'LISTEN');
  assert.throws(() => parseStateName('half-open'), { name: 'UsageError', message: /unknown TCP state 'half-open'/ });
});

test('peers are canonicalised so any spelling of an address matches', () => {
  assert.deepEqual(parsePeer('::0001'), { address: '::1', port: undefined });
  assert.deepEqual(parsePeer('[2001:DB8:0:0::1]:443'), { address: '2001:db8::1', port: 443 });
  assert.deepEqual(parsePeer('::ffff:10.0.0.1'), { address: '10.0.0.1', port: undefined });
  assert.deepEqual(parsePeer('10.0.0.1:80'), { address: '10.0.0.1', port: 80 });
  assert.throws(() => parsePeer('example.com'), { name: 'UsageError' });
  assert.throws(() => parsePeer('10.0.0.1:70000'), { name: 'UsageError' });
});
