// /proc/sys knobs: dotted names to paths, pure parsers of the kernel's value formats, a thin read and write.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { KernelReadError, PermissionError, UsageError, describeFsError } from '../errors.ts';
import { procRootDir } from './proc-root.ts';

/** An inclusive range of ports, as in ip_local_port_range or one entry of ip_local_reserved_ports. */
export interface PortRange {
  low: number;
  high: number;
}

/**
 * The value formats of the knobs tcplens reads:
 * - `int`: one integer ("4096");
 * - `range`: two integers separated by whitespace ("32768\t60999");
 * - `ports`: a comma list of ports and port ranges, possibly empty ("8080,9000-9010").
 */
export type SysctlShape = 'int' | 'range' | 'ports';

export type SysctlValue = number | PortRange | PortRange[];

/** What one read found: a knob the kernel does not list is absent, never filled in with a guess. */
export type SysctlReading = { name: string; present: true; raw: string } | { name: string; present: false };

// Names are fixed by the catalog, but a name becomes a path we may write: refuse anything that
// could climb out of /proc/sys.
const NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/i;

/** net.ipv4.tcp_fin_timeout → <procRoot>/sys/net/ipv4/tcp_fin_timeout. */
export function sysctlPath(name: string, procRoot = procRootDir()): string {
  if (!NAME.test(name)) throw new UsageError(`'${name}' is not a sysctl name (like net.ipv4.tcp_fin_timeout)`);
  return `${procRoot}/sys/${name.replaceAll('.', '/')}`;
}

/**
 * The kernel's text as sysctl(8) users write it: trailing newline gone, runs of tabs and spaces
 * made one space ("32768\t60999\n" → "32768 60999"). Pure.
 */
export function normalizeSysctlText(raw: string): string {
  return raw.trim().replace(/[ \t]+/g, ' ');
}

function parseWhole(text: string, what: string): number {
  if (!/^-?\d+$/.test(text)) throw new KernelReadError(`${what}: expected a whole number, got '${text}'`);
  return Number(text);
}

function parsePort(text: string, what: string): number {
  const port = parseWhole(text, what);
  if (port < 0 || port > 65535) throw new KernelReadError(`${what}: ${port} is not a port`);
  return port;
}

/** "4096\n" → 4096. Pure; throws KernelReadError on anything else. */
export function parseSysctlInt(raw: string, name = 'sysctl'): number {
  return parseWhole(normalizeSysctlText(raw), name);
}

/** "32768\t60999\n" → { low: 32768, high: 60999 }. Pure. */
export function parsePortRange(raw: string, name = 'sysctl'): PortRange {
  const parts = normalizeSysctlText(raw).split(' ');
  if (parts.length !== 2) throw new KernelReadError(`${name}: expected two ports, got '${raw.trim()}'`);
  const low = parsePort(parts[0]!, name);
  const high = parsePort(parts[1]!, name);
  if (low > high) throw new KernelReadError(`${name}: range ${low}-${high} runs backwards`);
  return { low, high };
}

/** "8080,9000-9010\n" → [{8080,8080},{9000,9010}]; "" → []. Pure. */
export function parsePortList(raw: string, name = 'sysctl'): PortRange[] {
  const text = normalizeSysctlText(raw);
  if (text === '') return [];
  return text.split(',').map((item) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item.trim());
    if (!m) throw new KernelReadError(`${name}: '${item}' is neither a port nor a port range`);
    const low = parsePort(m[1]!, name);
    const high = m[2] === undefined ? low : parsePort(m[2], name);
    if (low > high) throw new KernelReadError(`${name}: range ${low}-${high} runs backwards`);
    return { low, high };
  });
}

/** Parse a knob's text by its shape. Pure. */
export function parseSysctlValue(shape: SysctlShape, raw: string, name?: string): SysctlValue {
  switch (shape) {
    case 'int':
      return parseSysctlInt(raw, name);
    case 'range':
      return parsePortRange(raw, name);
    case 'ports':
      return parsePortList(raw, name);
  }
}

/** The text to write back: the inverse of parseSysctlValue, in the form sysctl(8) prints. Pure. */
export function formatSysctlValue(value: SysctlValue): string {
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map((r) => (r.low === r.high ? `${r.low}` : `${r.low}-${r.high}`)).join(',');
  return `${value.low} ${value.high}`;
}

/** Number of ports in a range, both ends included. */
export function portCount(range: PortRange): number {
  return range.high - range.low + 1;
}

/**
 * Fail early, with the platform error, when there is no /proc/sys at all: otherwise every knob
 * would read as absent and the report would blame the kernel for a missing /proc.
 */
export function assertSysctlRoot(procRoot = procRootDir()): void {
  const path = `${procRoot}/sys`;
  try {
    statSync(path);
  } catch (err) {
    throw describeFsError(err, path);
  }
}

/**
 * Read one knob. Absent (ENOENT) when this kernel lacks it or when it is global and this process
 * is not in the initial network namespace — the kernel only lists per-namespace knobs there.
 */
export function readSysctl(name: string, procRoot = procRootDir()): SysctlReading {
  const path = sysctlPath(name, procRoot);
  try {
    return { name, present: true, raw: readFileSync(path, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { name, present: false };
    throw describeFsError(err, path);
  }
}

export function readSysctls(names: readonly string[], procRoot = procRootDir()): SysctlReading[] {
  return names.map((name) => readSysctl(name, procRoot));
}

/**
 * Write one knob's text, as `sysctl -w` does. Writes go to the /proc/sys of this process's network
 * namespace for net.* knobs, so the caller decides where it runs.
 */
export function writeSysctl(name: string, text: string, procRoot = procRootDir()): void {
  const path = sysctlPath(name, procRoot);
  try {
    // One write of the whole value: proc handlers parse each write() on its own.
    writeFileSync(path, `${text}\n`, { flag: 'r+' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL') throw new KernelReadError(`the kernel refused ${name} = ${text} (EINVAL: out of its range)`);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`cannot write ${path}: permission denied`);
    throw describeFsError(err, path);
  }
}

/** One change to make: the value found and the value wanted, both as sysctl(8) text. */
export interface SysctlChange {
  name: string;
  from: string;
  to: string;
}

export interface SysctlWriteResult {
  name: string;
  from: string;
  to: string;
  /** What the kernel holds after the write (it may clamp or round). */
  now: string;
}

/**
 * Make changes in order and read each back. If one fails, put back the ones already made (best
 * effort) and throw, so a failed apply never leaves half a profile behind.
 */
export function writeSysctls(changes: readonly SysctlChange[], procRoot = procRootDir()): SysctlWriteResult[] {
  const done: SysctlWriteResult[] = [];
  for (const change of changes) {
    try {
      writeSysctl(change.name, change.to, procRoot);
      const after = readSysctl(change.name, procRoot);
      done.push({ ...change, now: after.present ? normalizeSysctlText(after.raw) : '' });
    } catch (err) {
      const restored: string[] = [];
      const lost: string[] = [];
      for (const made of done.reverse()) {
        try {
          writeSysctl(made.name, made.from, procRoot);
          restored.push(made.name);
        } catch {
          lost.push(`${made.name} (was ${made.from})`);
        }
      }
      const msg = err instanceof Error ? err.message : String(err);
      const undo =
        lost.length > 0
          ? `; could NOT restore ${lost.join(', ')}`
          : restored.length > 0
            ? `; restored ${restored.join(', ')}`
            : '';
      throw new KernelReadError(`${msg}${undo}`);
    }
  }
  return done;
}
