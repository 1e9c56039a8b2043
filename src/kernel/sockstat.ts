// /proc/net/sockstat and /proc/net/sockstat6: socket levels per protocol, a pure parser and a thin reader.

import { readFileSync } from 'node:fs';
import { describeFsError, KernelReadError } from '../errors.ts';
import type { CounterFields, ParsedCounters } from '../model/counters.ts';
import { procRootDir } from './proc-root.ts';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const INTEGER = /^-?\d+$/;

/**
 * Parse the text of sockstat or sockstat6. Pure. Each line is a protocol and name/value pairs:
 *
 *     sockets: used 11
 *     TCP: inuse 5 orphan 0 tw 3 alloc 7 mem 1
 *     TCP6: inuse 1
 *
 * Every pair is kept, known or not. A name without a value, or a value that is not a number, is
 * skipped and said in `problems`; the rest of the line still counts.
 */
export function parseSockstat(text: string): ParsedCounters {
  const sections: Record<string, CounterFields> = {};
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const where = `line ${i + 1}`;
    const colon = raw.indexOf(':');
    const section = colon < 0 ? '' : raw.slice(0, colon).trim();
    if (!NAME.test(section)) {
      problems.push(`${where}: expected 'PROTO: name value …', got '${raw.trim().slice(0, 40)}'`);
      continue;
    }
    const tokens = raw
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    const fields = (sections[section] ??= {});
    for (let j = 0; j < tokens.length; j += 2) {
      const name = tokens[j]!;
      const value = tokens[j + 1];
      if (!NAME.test(name)) {
        problems.push(`${section} (${where}): '${name.slice(0, 40)}' is not a field name; skipped`);
      } else if (value === undefined) {
        problems.push(`${section}.${name} (${where}): no value; skipped`);
      } else if (!INTEGER.test(value)) {
        problems.push(`${section}.${name} (${where}): '${value.slice(0, 40)}' is not a number; skipped`);
      } else {
        fields[name] = Number(value);
      }
    }
  }
  return { sections, problems };
}

export function sockstatPath(family: 'ipv4' | 'ipv6', procRoot = procRootDir()): string {
  return `${procRoot}/net/${family === 'ipv4' ? 'sockstat' : 'sockstat6'}`;
}

// The text of a file; undefined when it is optional and absent.
function readText(path: string, optional = false): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw describeFsError(err, path);
  }
}

/**
 * Read sockstat and, when the kernel has IPv6, sockstat6, into one set of sections (TCP and TCP6
 * side by side). sockstat6 is missing when IPv6 is disabled or not built; that is not an error.
 */
export function readSockstat(procRoot = procRootDir()): ParsedCounters {
  const v4Path = sockstatPath('ipv4', procRoot);
  const v4 = parseSockstat(readText(v4Path) ?? '');
  if (Object.keys(v4.sections).length === 0) {
    throw new KernelReadError(`${v4Path} has no socket counts tcplens can read`);
  }
  const sections = { ...v4.sections };
  const problems = v4.problems.map((p) => `${v4Path}: ${p}`);

  const v6Path = sockstatPath('ipv6', procRoot);
  const v6Text = readText(v6Path, true);
  if (v6Text !== undefined) {
    const v6 = parseSockstat(v6Text);
    for (const [name, fields] of Object.entries(v6.sections)) sections[name] = { ...sections[name], ...fields };
    problems.push(...v6.problems.map((p) => `${v6Path}: ${p}`));
  }
  return { sections, problems };
}
