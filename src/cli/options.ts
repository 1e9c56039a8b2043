// Parsers for command-line values: each returns a typed value or throws a UsageError naming the flag.

import { UsageError } from '../errors.ts';

export function parseInteger(flag: string, min: number, max: number) {
  return (raw: string): number => {
    const s = raw.trim();
    if (!/^-?\d+$/.test(s)) throw new UsageError(`${flag} takes a whole number, not '${raw}'`);
    const n = Number(s);
    if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, not ${raw}`);
    return n;
  };
}

export const parsePort = (flag: string) => parseInteger(flag, 0, 65535);

/** Seconds as a positive number, fractions allowed ("0.5"), or with a unit: 500ms, 2s, 1m. */
export function parseSeconds(flag: string, { min = 0.01, max = 86_400 } = {}) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
    if (!m) throw new UsageError(`${flag} takes seconds (for example 1, 0.5, 500ms, 2m), not '${raw}'`);
    const unit = m[2] ?? 's';
    const seconds = Number(m[1]) * (unit === 'ms' ? 0.001 : unit === 'm' ? 60 : 1);
    if (seconds < min || seconds > max) {
      throw new UsageError(`${flag} must be between ${min} and ${max} seconds, not ${raw}`);
    }
    return seconds;
  };
}

/** One of a fixed set of words. */
export function parseChoice<T extends string>(flag: string, choices: readonly T[]) {
  return (raw: string): T => {
    const v = raw.trim().toLowerCase() as T;
    if (!choices.includes(v)) throw new UsageError(`${flag} takes one of ${choices.join(', ')}, not '${raw}'`);
    return v;
  };
}

/** Collect a repeatable flag's values. */
export function collect<T>(parse: (raw: string) => T) {
  return (raw: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(raw)];
}

/** Milliseconds as a number (500), or with a unit: 500ms, 2s, 1m. */
export function parseMilliseconds(flag: string, { min = 0, max = 86_400_000 } = {}) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
    if (!m) throw new UsageError(`${flag} takes milliseconds (for example 500, 500ms, 2s), not '${raw}'`);
    const unit = m[2] ?? 'ms';
    const ms = Number(m[1]) * (unit === 's' ? 1000 : unit === 'm' ? 60_000 : 1);
    if (ms < min || ms > max) throw new UsageError(`${flag} must be between ${min} and ${max} ms, not ${raw}`);
    return ms;
  };
}

/** A bind address: "127.0.0.1:9470", "[::1]:9470", "0.0.0.0:80", or a port alone ("9470", ":9470") on 127.0.0.1. */
export function parseListen(raw: string): { host: string; port: number } {
  const s = raw.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))(?::(\d+))?$/.exec(s);
  const bad = () =>
    new UsageError(`--listen takes address:port (127.0.0.1:9470, [::1]:9470 or 0.0.0.0:9470) or a port, not '${raw}'`);
  if (!m) throw bad();
  const portOnly = m[1] === undefined && m[3] === undefined && /^\d+$/.test(m[2] ?? '');
  const host = portOnly ? '127.0.0.1' : (m[1] ?? m[2]) || '127.0.0.1';
  const portText = portOnly ? m[2]! : m[3];
  if (portText === undefined) throw bad();
  const port = Number(portText);
  if (port > 65535) throw new UsageError(`--listen: the port must be between 0 and 65535, not ${portText}`);
  if (host !== 'localhost' && process.getBuiltinModule('node:net').isIP(host) === 0)
    throw new UsageError(`--listen takes an IP address (or localhost), not '${host}'`);
  return { host, port };
}

/**
 * A repeatable flag whose values may also be comma lists: --port 80,443 --port 8080. An empty item
 * (--port '', --port 80,) is an error: dropping it would turn the filter off and trace everything.
 */
export function commaList<T>(flag: string, parse: (raw: string) => T) {
  return (raw: string, previous: T[] | undefined): T[] => {
    const items = raw.split(',').map((s) => s.trim());
    if (items.some((s) => s === ''))
      throw new UsageError(`${flag} needs a value in each item of its list, not '${raw}'`);
    return [...(previous ?? []), ...items.map(parse)];
  };
}
