// /proc/net/snmp and /proc/net/netstat: pairs of header and value lines, a pure parser and a thin reader.

import { readFileSync } from 'node:fs';
import { describeFsError, KernelReadError } from '../errors.ts';
import type { CounterFields, ParsedCounters } from '../model/counters.ts';
import { procRootDir } from './proc-root.ts';

// Kernel names are plain identifiers. Anything else ('__proto__' from a doctored file, say) is
// refused rather than used as an object key.
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const INTEGER = /^-?\d+$/;

interface Line {
  section: string;
  tokens: string[];
  lineNo: number;
}

function splitLine(raw: string, lineNo: number): Line | string {
  const colon = raw.indexOf(':');
  if (colon < 0) return `line ${lineNo}: expected 'Section: …', got '${clip(raw)}'`;
  const section = raw.slice(0, colon).trim();
  if (!NAME.test(section)) return `line ${lineNo}: '${clip(section)}' is not a section name`;
  const tokens = raw
    .slice(colon + 1)
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return { section, tokens, lineNo };
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Parse the text of /proc/net/snmp or /proc/net/netstat. Pure.
 *
 * Each section is two consecutive lines with the same prefix, names then values:
 *
 *     TcpExt: SyncookiesSent SyncookiesRecv …
 *     TcpExt: 0 0 …
 *
 * Every field is kept, known or not, so a newer kernel's counters show up without a change here.
 * What cannot be paired is skipped and said in `problems`: a header without its value line, a
 * value line without a header, or a pair whose lengths differ (which name goes with which value
 * is then unknowable, so the whole section goes rather than a guess).
 */
export function parseSnmp(text: string): ParsedCounters {
  const sections: Record<string, CounterFields> = {};
  const problems: string[] = [];
  let header: Line | undefined;

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const line = splitLine(raw, i + 1);
    if (typeof line === 'string') {
      problems.push(line);
      continue;
    }
    if (header && header.section === line.section) {
      pair(header, line, sections, problems);
      header = undefined;
      continue;
    }
    if (header) problems.push(`${header.section} (line ${header.lineNo}): header without a value line; skipped`);
    header = undefined;
    // Values where a header belongs: the header line is missing (or the file was spliced).
    if (line.tokens.length > 0 && INTEGER.test(line.tokens[0]!)) {
      problems.push(`${line.section} (line ${line.lineNo}): values without a header line; skipped`);
      continue;
    }
    header = line;
  }
  if (header) problems.push(`${header.section} (line ${header.lineNo}): header without a value line; skipped`);
  return { sections, problems };
}

function pair(header: Line, values: Line, sections: Record<string, CounterFields>, problems: string[]): void {
  const names = header.tokens;
  if (names.length !== values.tokens.length) {
    problems.push(
      `${header.section} (line ${header.lineNo}): ${names.length} names but ${values.tokens.length} values; skipped`,
    );
    return;
  }
  // A section seen twice (no kernel does that) merges, the later value winning.
  const fields = (sections[header.section] ??= {});
  for (let j = 0; j < names.length; j++) {
    const name = names[j]!;
    const value = values.tokens[j]!;
    if (!NAME.test(name)) {
      problems.push(`${header.section} (line ${header.lineNo}): '${clip(name)}' is not a counter name; skipped`);
    } else if (!INTEGER.test(value)) {
      problems.push(`${header.section}.${name} (line ${values.lineNo}): '${clip(value)}' is not a number; skipped`);
    } else {
      fields[name] = Number(value);
    }
  }
}

export function snmpPath(procRoot = procRootDir()): string {
  return `${procRoot}/net/snmp`;
}

export function netstatPath(procRoot = procRootDir()): string {
  return `${procRoot}/net/netstat`;
}

/** Read and parse one file of this format; a file that yields no section at all is an error. */
export function readSnmpFile(path: string): ParsedCounters {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    throw describeFsError(err, path);
  }
  const parsed = parseSnmp(text);
  if (Object.keys(parsed.sections).length === 0) {
    const why = parsed.problems[0] ? `: ${parsed.problems[0]}` : '';
    throw new KernelReadError(`${path} has no counters tcplens can read${why}`);
  }
  return { sections: parsed.sections, problems: parsed.problems.map((p) => `${path}: ${p}`) };
}

/**
 * Read /proc/net/snmp (RFC MIB sections: Ip, Icmp, Tcp, Udp, …) and /proc/net/netstat (Linux
 * extensions: TcpExt, IpExt, MPTcpExt, …) into one set of sections. Both are required: a host
 * without them has no counters to show.
 */
export function readSnmp(procRoot = procRootDir()): ParsedCounters {
  const snmp = readSnmpFile(snmpPath(procRoot));
  const netstat = readSnmpFile(netstatPath(procRoot));
  const sections = { ...snmp.sections };
  for (const [name, fields] of Object.entries(netstat.sections)) sections[name] = { ...sections[name], ...fields };
  return { sections, problems: [...snmp.problems, ...netstat.problems] };
}
