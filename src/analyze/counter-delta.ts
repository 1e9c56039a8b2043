// Counters as rows: absolute, or the change and rate between two readings; which rows moved; which to show.

import type { Counters } from '../model/counters.ts';
import { meaningOf } from './counter-meanings.ts';

/** An event count that only goes up, or a level (or constant) that can go either way. */
export type CounterKind = 'counter' | 'gauge';

// The snmp fields that are levels or constants rather than event counts. All of sockstat is levels.
const GAUGES: Record<string, readonly string[]> = {
  Ip: ['Forwarding', 'DefaultTTL'],
  Tcp: ['RtoAlgorithm', 'RtoMin', 'RtoMax', 'MaxConn', 'CurrEstab'],
  MPTcpExt: ['MPCurrEstab'],
};

const SOCKSTAT_PREFIX = 'sockstat.';

/** `section` is the kernel's ('TcpExt'), or 'sockstat.TCP' for a sockstat line. */
export function counterKind(section: string, field: string): CounterKind {
  if (section.startsWith(SOCKSTAT_PREFIX)) return 'gauge';
  return GAUGES[section]?.includes(field) ? 'gauge' : 'counter';
}

export interface CounterRow {
  /** The kernel's section name ('Tcp', 'TcpExt'), or 'sockstat.' + the sockstat line's ('sockstat.TCP'). */
  section: string;
  field: string;
  kind: CounterKind;
  /** The value at the (latest) reading. */
  value: number;
  /** Change since the previous reading (interval samples only). */
  delta?: number;
  /** delta per second (interval samples, event counters only: a level's rate means nothing). */
  ratePerSec?: number;
  /** One line from the catalog, when it has one. */
  meaning?: string;
  harmful: boolean;
  /** Harmful and moved: worth a marker. */
  alarm: boolean;
}

function* entries(counters: Counters): Generator<[section: string, field: string, value: number]> {
  for (const [section, fields] of Object.entries(counters.sections)) {
    for (const [field, value] of Object.entries(fields)) yield [section, field, value];
  }
  for (const [section, fields] of Object.entries(counters.sockstat)) {
    for (const [field, value] of Object.entries(fields)) yield [SOCKSTAT_PREFIX + section, field, value];
  }
}

function describe(section: string, field: string): Pick<CounterRow, 'kind' | 'meaning' | 'harmful'> {
  const m = meaningOf(section, field);
  return { kind: counterKind(section, field), meaning: m?.meaning, harmful: m?.harmful ?? false };
}

/** Every counter of one reading, in the kernel's order (snmp, netstat, then sockstat). */
export function absoluteRows(counters: Counters): CounterRow[] {
  const rows: CounterRow[] = [];
  for (const [section, field, value] of entries(counters)) {
    const d = describe(section, field);
    rows.push({ section, field, value, ...d, alarm: d.harmful && value > 0 });
  }
  return rows;
}

/**
 * Every counter of `current` with its change since `previous`, `intervalS` seconds earlier.
 *
 * A counter that went down was reset (a module reloaded, a namespace changed under us), so its
 * change is counted from zero rather than reported as negative. A field that was not there before
 * (a module loaded in between) has no change yet.
 */
export function intervalRows(previous: Counters, current: Counters, intervalS: number): CounterRow[] {
  if (!(intervalS > 0)) throw new RangeError(`interval must be positive, not ${intervalS}`);
  const before = new Map<string, number>();
  for (const [section, field, value] of entries(previous)) before.set(`${section}\0${field}`, value);

  const rows: CounterRow[] = [];
  for (const [section, field, value] of entries(current)) {
    const d = describe(section, field);
    const old = before.get(`${section}\0${field}`);
    let delta = old === undefined ? 0 : value - old;
    if (d.kind === 'counter' && delta < 0) delta = value;
    const ratePerSec = d.kind === 'counter' ? delta / intervalS : undefined;
    rows.push({ section, field, value, delta, ratePerSec, ...d, alarm: d.harmful && delta > 0 });
  }
  return rows;
}

/** Moved: nonzero when absolute, changed when a delta. */
export function moved(row: CounterRow): boolean {
  return row.delta === undefined ? row.value !== 0 : row.delta !== 0;
}

export interface CounterSelection {
  /** Keep rows that did not move. */
  all?: boolean;
  /** Section names, case-insensitive; 'sockstat' stands for every sockstat line. */
  sections?: readonly string[];
  /** Tested against the field, 'SectionField' (nstat's spelling) and 'Section.Field'. */
  match?: RegExp;
}

function inSections(section: string, wanted: readonly string[]): boolean {
  const s = section.toLowerCase();
  return wanted.some((w) => {
    const x = w.toLowerCase();
    return s === x || (x === 'sockstat' && s.startsWith(SOCKSTAT_PREFIX));
  });
}

export function selectRows(rows: readonly CounterRow[], selection: CounterSelection): CounterRow[] {
  const { all = false, sections, match } = selection;
  return rows.filter(
    (r) =>
      (all || moved(r)) &&
      (!sections?.length || inSections(r.section, sections)) &&
      (!match || match.test(r.field) || match.test(r.section + r.field) || match.test(`${r.section}.${r.field}`)),
  );
}

/** The section names a reading has, as `--section` accepts them. */
export function sectionNames(counters: Counters): string[] {
  return [
    ...Object.keys(counters.sections),
    'sockstat',
    ...Object.keys(counters.sockstat).map((s) => SOCKSTAT_PREFIX + s),
  ];
}

/** Those of `wanted` that name no section of this reading. */
export function unknownSections(counters: Counters, wanted: readonly string[]): string[] {
  const known = new Set(sectionNames(counters).map((s) => s.toLowerCase()));
  return wanted.filter((w) => !known.has(w.toLowerCase()));
}

/** Regroup rows by section, the way the kernel groups them, with one number picked per row. */
export function groupRows(rows: readonly CounterRow[], pick: (row: CounterRow) => number | undefined): Counters {
  const sections: Counters['sections'] = {};
  const sockstat: Counters['sockstat'] = {};
  for (const row of rows) {
    const n = pick(row);
    if (n === undefined) continue;
    const [target, name] = row.section.startsWith(SOCKSTAT_PREFIX)
      ? [sockstat, row.section.slice(SOCKSTAT_PREFIX.length)]
      : [sections, row.section];
    (target[name] ??= {})[row.field] = n;
  }
  return { sections, sockstat };
}
