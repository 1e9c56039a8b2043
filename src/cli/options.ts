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
