// `tcplens counters`: the kernel's TCP/IP counters, absolute or per interval, explained, the harmful ones marked.
//
// --json schema, absolute (the default):
//   {"Ip": {"Forwarding": 2, …}, "Icmp": {…}, "IcmpMsg": {…}, "Tcp": {"ActiveOpens": N, …}, "Udp": {…},
//    "UdpLite": {…}, "TcpExt": {"ListenOverflows": N, …}, "IpExt": {…}, "MPTcpExt": {…}, …,
//    "sockstat": {"sockets": {"used": N}, "TCP": {"inuse", "orphan", "tw", "alloc", "mem"}, "UDP": {"inuse", "mem"},
//                 "UDPLITE": {…}, "RAW": {…}, "FRAG": {"inuse", "memory"}, "TCP6": {"inuse"}, "UDP6": {…}, …}}
//   Sections and fields carry the kernel's own names, in the kernel's order, every one this kernel
//   prints (including ones tcplens has never heard of). Sections come from /proc/net/snmp and
//   /proc/net/netstat; "sockstat" from /proc/net/sockstat and sockstat6 (absent without IPv6).
//
// --json schema, with --interval or --count:
//   {"samples": [{"time": ISO-8601 end of the interval, "intervalS": measured seconds,
//                 "deltas": {Section: {Field: change}, …, "sockstat": {Line: {field: change}}},
//                 "rates":  {Section: {Field: change per second}, …},
//                 "values": {Section: {Field: value at the end of the interval}, …}}, …]}
//   One sample per line as it is measured (lines after the first start with ","), and the
//   document is closed when the count is reached or on Ctrl-C. Levels (Tcp CurrEstab, the
//   constants such as Tcp RtoMin, all of sockstat) have a delta and a value but no rate.
//
// In both: every field is present, zero or not (the table shows only nonzero or moved ones unless
// --all); --section and --match narrow it, and a section with no field left is left out.
// Numbers are JSON numbers, exact below 2^53.

import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import {
  type CounterSelection,
  absoluteRows,
  intervalRows,
  sectionNames,
  selectRows,
  unknownSections,
} from '../analyze/counter-delta.ts';
import { UsageError } from '../errors.ts';
import { readCounters } from '../kernel/counters.ts';
import type { Counters } from '../model/counters.ts';
import {
  type CounterRenderOptions,
  type CounterSample,
  countersJson,
  renderCounterSample,
  renderCounterTable,
  sampleJson,
} from '../render/counters.ts';
import { renderJson } from '../text/json.ts';
import { useColor } from '../render/table.ts';
import { parseInteger, parseSeconds } from './options.ts';
import { clearProgress, out, progress } from './output.ts';

interface CountersOptions {
  all?: boolean;
  explain?: boolean;
  interval?: number;
  count?: number;
  section?: string[];
  match?: RegExp;
  json?: boolean;
}

const collectSections = (raw: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function parseMatch(raw: string): RegExp {
  try {
    return new RegExp(raw, 'i');
  } catch {
    throw new UsageError(`--match takes a name or a regular expression, and '${raw}' is not a valid one`);
  }
}

function warn(problems: readonly string[]): void {
  for (const p of problems) process.stderr.write(`tcplens: warning: ${p}\n`);
}

function emptyText(selection: CounterSelection, interval: boolean): string {
  const filtered = Boolean(selection.sections?.length || selection.match);
  if (selection.all) return 'no counter matches --section/--match';
  const what = interval ? 'no counter moved' : 'no counter is nonzero';
  return `${what}${filtered ? ' among those matching --section/--match' : ''} (--all lists every counter)`;
}

export function registerCounters(program: Command): void {
  program
    .command('counters')
    .description(
      'kernel TCP/IP counters (snmp, netstat, sockstat): absolute or per interval, explained, the harmful ones marked',
    )
    .option('-a, --all', 'every counter, including zero values (or, per interval, those that did not move)')
    .option('-e, --explain', 'add a one-line meaning to each counter tcplens knows')
    .option(
      '-i, --interval <seconds>',
      'show changes and rates per second over each interval (1, 0.5, 500ms); Ctrl-C stops',
      parseSeconds('--interval'),
    )
    .option(
      '-c, --count <n>',
      'stop after N intervals (default interval 1 s)',
      parseInteger('--count', 1, 1_000_000_000),
    )
    .option(
      '--section <names>',
      'only these sections, comma-separated or repeated (Tcp, TcpExt, sockstat, sockstat.TCP, …)',
      collectSections,
    )
    .option(
      '-m, --match <regex>',
      'only counters whose name matches, case-insensitive (Listen, Abort, TcpExtTW)',
      parseMatch,
    )
    .option('--json', 'machine-readable output (schema at the top of src/cli/counters.ts)')
    .addHelpText(
      'after',
      `
Counters are those of the network namespace tcplens runs in.

Examples:
  tcplens counters                          nonzero counters, harmful ones marked with !
  tcplens counters --explain --match listen accept-queue overflows and drops, explained
  tcplens counters -i 1 -c 10               what moved each second, for ten seconds
  tcplens counters -i 1 --section TcpExt,sockstat
                                            TcpExt and socket levels each second until Ctrl-C
  tcplens counters --all --json | jq .TcpExt.ListenOverflows`,
    )
    .action(async (opts: CountersOptions) => {
      // JSON is for scripts: every field is there, zero or not, unless --section/--match narrow it.
      const selection: CounterSelection = { all: opts.all || opts.json, sections: opts.section, match: opts.match };
      const render: CounterRenderOptions = { color: useColor(), explain: Boolean(opts.explain) };

      const first = readCounters();
      const firstMs = performance.now();
      warn(first.problems);
      const unknown = unknownSections(first.counters, opts.section ?? []);
      if (unknown.length > 0) {
        throw new UsageError(
          `--section: no section ${unknown.join(', ')} here (there are ${sectionNames(first.counters).join(', ')})`,
        );
      }

      if (opts.interval === undefined && opts.count === undefined) {
        const rows = selectRows(absoluteRows(first.counters), selection);
        out(opts.json ? renderJson(countersJson(rows)) : renderCounterTable(rows, render, emptyText(selection, false)));
        return;
      }

      const empty = emptyText(selection, true);
      let samples = 0;
      if (opts.json) out('{"samples":[\n');
      await sampleEvery(first.counters, firstMs, opts.interval ?? 1, opts.count, selection, (sample) => {
        if (opts.json) out(`${samples > 0 ? ',' : ''}${JSON.stringify(sampleJson(sample))}\n`);
        else out(renderCounterSample(sample, render, empty));
        samples++;
      });
      if (opts.json) out(']}\n');
    });
}

/**
 * Read the counters every `intervalS` seconds, `count` times or until Ctrl-C, handing each
 * interval's rows to `emit` as soon as they are read. Readings are scheduled from the start, so
 * intervals do not drift, and each sample carries the time that really passed. The first Ctrl-C
 * ends the loop cleanly (the caller then closes its output); a second one kills as usual.
 */
async function sampleEvery(
  first: Counters,
  firstMs: number,
  intervalS: number,
  count: number | undefined,
  selection: CounterSelection,
  emit: (sample: CounterSample) => void,
): Promise<void> {
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  try {
    let previous = first;
    let previousMs = firstMs;
    for (let i = 1; count === undefined || i <= count; i++) {
      progress(`counters: interval ${i}${count === undefined ? '' : `/${count}`} of ${intervalS} s (Ctrl-C to stop)`);
      try {
        await delay(Math.max(0, firstMs + i * intervalS * 1000 - performance.now()), undefined, {
          signal: stop.signal,
        });
      } catch (err) {
        if ((err as Error).name === 'AbortError') break;
        throw err;
      }
      // Skipped lines were warned about at the first reading; the files' shape does not change.
      const { counters } = readCounters();
      const nowMs = performance.now();
      const elapsedS = (nowMs - previousMs) / 1000;
      clearProgress();
      emit({
        time: new Date(),
        intervalS: elapsedS,
        rows: selectRows(intervalRows(previous, counters, elapsedS), selection),
      });
      previous = counters;
      previousMs = nowMs;
    }
  } finally {
    process.off('SIGINT', onSigint);
    clearProgress();
  }
}
