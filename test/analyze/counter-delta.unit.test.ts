import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type CounterRow,
  absoluteRows,
  counterKind,
  groupRows,
  intervalRows,
  moved,
  selectRows,
  unknownSections,
} from '../../src/analyze/counter-delta.ts';
import { cataloguedCounters, meaningOf } from '../../src/analyze/counter-meanings.ts';
import { readSnmp } from '../../src/kernel/snmp.ts';
import { readSockstat } from '../../src/kernel/sockstat.ts';
import type { Counters } from '../../src/model/counters.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/counters/', import.meta.url));

function fixtureCounters(root: 'proc' | 'overflow'): Counters {
  return { sections: readSnmp(FIXTURES + root).sections, sockstat: readSockstat(FIXTURES + root).sections };
}

function counters(sections: Counters['sections'], sockstat: Counters['sockstat'] = {}): Counters {
  return { sections, sockstat };
}

function row(rows: CounterRow[], section: string, field: string): CounterRow {
  const found = rows.find((r) => r.section === section && r.field === field);
  assert.ok(found, `${section} ${field} is there`);
  return found;
}

describe('absoluteRows', () => {
  it('lists every counter in the kernel order, snmp sections first and sockstat lines after', () => {
    const c = counters({ Tcp: { ActiveOpens: 3, PassiveOpens: 0 }, TcpExt: { TW: 8 } }, { TCP: { inuse: 1, tw: 2 } });
    const rows = absoluteRows(c);
    assert.deepEqual(
      rows.map((r) => `${r.section} ${r.field} ${r.value}`),
      ['Tcp ActiveOpens 3', 'Tcp PassiveOpens 0', 'TcpExt TW 8', 'sockstat.TCP inuse 1', 'sockstat.TCP tw 2'],
    );
    assert.ok(rows.every((r) => r.delta === undefined && r.ratePerSec === undefined));
  });

  it('raises an alarm on a harmful counter that is nonzero, and only then', () => {
    const rows = absoluteRows(fixtureCounters('overflow'));
    assert.equal(row(rows, 'TcpExt', 'ListenOverflows').alarm, true);
    assert.equal(row(rows, 'TcpExt', 'ListenDrops').alarm, true);
    assert.equal(row(rows, 'Tcp', 'AttemptFails').harmful, true);
    assert.equal(row(rows, 'Tcp', 'AttemptFails').alarm, false, 'harmful but zero');
    assert.equal(row(rows, 'TcpExt', 'TW').alarm, false, 'nonzero but harmless');
    assert.equal(row(rows, 'sockstat.TCP', 'tw').alarm, false);
  });

  it('carries the meaning of the counters the catalog knows', () => {
    const rows = absoluteRows(fixtureCounters('overflow'));
    assert.match(row(rows, 'TcpExt', 'ListenOverflows').meaning ?? '', /accept queue/);
    assert.equal(row(rows, 'TcpExt', 'TCPHPHits').meaning, undefined);
  });
});

describe('intervalRows', () => {
  it('gives the change of a counter and its rate per second over the interval', () => {
    const before = counters({ TcpExt: { ListenOverflows: 10, TW: 5 } });
    const after = counters({ TcpExt: { ListenOverflows: 40, TW: 5 } });
    const rows = intervalRows(before, after, 2);
    const overflows = row(rows, 'TcpExt', 'ListenOverflows');
    assert.equal(overflows.value, 40);
    assert.equal(overflows.delta, 30);
    assert.equal(overflows.ratePerSec, 15);
    assert.equal(overflows.alarm, true);
    assert.equal(row(rows, 'TcpExt', 'TW').delta, 0);
  });

  it('gives a level its signed change and no rate', () => {
    const before = counters({ Tcp: { CurrEstab: 10 } }, { TCP: { tw: 100 } });
    const after = counters({ Tcp: { CurrEstab: 7 } }, { TCP: { tw: 160 } });
    const rows = intervalRows(before, after, 1);
    assert.deepEqual(
      [row(rows, 'Tcp', 'CurrEstab'), row(rows, 'sockstat.TCP', 'tw')].map((r) => [r.kind, r.delta, r.ratePerSec]),
      [
        ['gauge', -3, undefined],
        ['gauge', 60, undefined],
      ],
    );
  });

  it('counts a counter that went down as reset, from zero, never as a negative change', () => {
    const rows = intervalRows(counters({ Tcp: { OutRsts: 500 } }), counters({ Tcp: { OutRsts: 4 } }), 1);
    assert.equal(row(rows, 'Tcp', 'OutRsts').delta, 4);
  });

  it('gives a field that appeared between the readings no change yet', () => {
    const rows = intervalRows(counters({}), counters({ MPTcpExt: { MPCapableSYNRX: 9 } }), 1);
    assert.equal(row(rows, 'MPTcpExt', 'MPCapableSYNRX').delta, 0);
  });

  it('does not raise an alarm for a harmful counter that held still', () => {
    const c = fixtureCounters('overflow');
    const rows = intervalRows(c, c, 1);
    assert.ok(rows.every((r) => r.delta === 0 && !r.alarm));
  });

  it('refuses an interval that is not positive', () => {
    const c = counters({ Tcp: { ActiveOpens: 1 } });
    assert.throws(() => intervalRows(c, c, 0), RangeError);
    assert.throws(() => intervalRows(c, c, Number.NaN), RangeError);
  });
});

describe('counterKind', () => {
  it('tells levels and constants from event counters', () => {
    assert.equal(counterKind('Tcp', 'CurrEstab'), 'gauge');
    assert.equal(counterKind('Tcp', 'MaxConn'), 'gauge');
    assert.equal(counterKind('sockstat.TCP', 'alloc'), 'gauge');
    assert.equal(counterKind('Tcp', 'ActiveOpens'), 'counter');
    assert.equal(counterKind('TcpExt', 'SomethingNew'), 'counter');
  });
});

describe('selectRows', () => {
  const rows = absoluteRows(
    counters(
      { Tcp: { ActiveOpens: 3, AttemptFails: 0 }, TcpExt: { ListenOverflows: 2, ListenDrops: 0 } },
      { TCP: { tw: 4 }, TCP6: { inuse: 0 } },
    ),
  );
  const names = (selected: CounterRow[]) => selected.map((r) => `${r.section}.${r.field}`);

  it('keeps only what moved unless asked for all', () => {
    assert.deepEqual(names(selectRows(rows, {})), ['Tcp.ActiveOpens', 'TcpExt.ListenOverflows', 'sockstat.TCP.tw']);
    assert.equal(selectRows(rows, { all: true }).length, rows.length);
    assert.ok(selectRows(rows, {}).every(moved));
  });

  it('filters by section, case-insensitive, with sockstat standing for all its lines', () => {
    assert.deepEqual(names(selectRows(rows, { all: true, sections: ['tcpext'] })), [
      'TcpExt.ListenOverflows',
      'TcpExt.ListenDrops',
    ]);
    assert.deepEqual(names(selectRows(rows, { all: true, sections: ['sockstat'] })), [
      'sockstat.TCP.tw',
      'sockstat.TCP6.inuse',
    ]);
    assert.deepEqual(names(selectRows(rows, { all: true, sections: ['sockstat.tcp6', 'Tcp'] })), [
      'Tcp.ActiveOpens',
      'Tcp.AttemptFails',
      'sockstat.TCP6.inuse',
    ]);
  });

  it('matches a pattern against the field or nstat-style Section+Field names', () => {
    assert.deepEqual(names(selectRows(rows, { all: true, match: /listen/i })), [
      'TcpExt.ListenOverflows',
      'TcpExt.ListenDrops',
    ]);
    assert.deepEqual(names(selectRows(rows, { match: /^TcpExtListen/i })), ['TcpExt.ListenOverflows']);
    assert.deepEqual(names(selectRows(rows, { all: true, match: /^tcp\.a/i })), [
      'Tcp.ActiveOpens',
      'Tcp.AttemptFails',
    ]);
  });

  it('finds the --section names a reading does not have', () => {
    const c = counters({ Tcp: {} }, { TCP6: {} });
    // A sockstat line is named with its prefix: a bare 'TCP6' is no section.
    assert.deepEqual(unknownSections(c, ['tcp', 'sockstat', 'sockstat.TCP6', 'TcpExt', 'TCP6']), ['TcpExt', 'TCP6']);
  });
});

describe('groupRows', () => {
  it('nests rows back by section, keeping sockstat apart, with the number picked per row', () => {
    const c = counters({ Tcp: { ActiveOpens: 3, CurrEstab: 2 } }, { TCP: { tw: 4 } });
    const rows = intervalRows(c, c, 1);
    assert.deepEqual(
      groupRows(rows, (r) => r.ratePerSec),
      { sections: { Tcp: { ActiveOpens: 0 } }, sockstat: {} },
    );
    assert.deepEqual(
      groupRows(rows, (r) => r.value),
      c,
    );
  });
});

describe('counter meanings', () => {
  const real = fixtureCounters('proc');
  const exists = (section: string, field: string) =>
    section.startsWith('sockstat.')
      ? real.sockstat[section.slice(9)]?.[field] !== undefined
      : real.sections[section]?.[field] !== undefined;

  it('explains only counters that a real kernel prints, spelled as the kernel spells them', () => {
    const missing = cataloguedCounters().filter(([s, f]) => !exists(s, f));
    assert.deepEqual(missing, []);
  });

  it('explains every counter that matters for accept queues, TIME_WAIT, aborts, resets and retransmits', () => {
    const wanted = [
      'TcpExt ListenOverflows ListenDrops TCPReqQFullDrop TCPReqQFullDoCookies SyncookiesSent SyncookiesRecv SyncookiesFailed',
      'TcpExt TW TWRecycled TWKilled TCPTimeWaitOverflow TCPSynRetrans TCPLostRetransmit',
      'TcpExt TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed',
      'Tcp EstabResets OutRsts AttemptFails ActiveOpens PassiveOpens CurrEstab RetransSegs',
      'sockstat.TCP inuse orphan tw alloc mem',
    ];
    for (const line of wanted) {
      const [section, ...fields] = line.split(' ');
      for (const field of fields) assert.ok(meaningOf(section!, field)?.meaning, `${section} ${field}`);
    }
  });

  it('marks accept-queue drops harmful and SYN cookies, which keep the connection, not', () => {
    assert.equal(meaningOf('TcpExt', 'ListenOverflows')?.harmful, true);
    assert.equal(meaningOf('TcpExt', 'ListenDrops')?.harmful, true);
    assert.equal(meaningOf('TcpExt', 'TCPReqQFullDrop')?.harmful, true);
    assert.equal(meaningOf('TcpExt', 'TCPReqQFullDoCookies')?.harmful, false);
    assert.equal(meaningOf('TcpExt', 'SyncookiesSent')?.harmful, false);
    assert.match(meaningOf('TcpExt', 'ListenDrops')!.meaning, /every ListenOverflow/);
  });

  it('never advises tcp_tw_recycle, which Linux 4.12 removed', () => {
    for (const [s, f] of cataloguedCounters()) assert.doesNotMatch(meaningOf(s, f)!.meaning, /tw_recycle/);
  });
});
