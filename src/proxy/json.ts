// The one check of untrusted proxy input (API bodies, --config and populate files, proxy and toxic
// definitions): types as Toxiproxy's Go decoder checks them, and every value bounded to what this
// process can honour, with errors that name the field. Called when a proxy or toxic is created or
// changed, never per connection or per chunk.

import { type ApiError, badRequestBody } from './api-error.ts';

/** A request body larger than this is answered 413 (Toxiproxy reads any size). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Names must fit a request line once %-encoded, far below Node's 16 KiB header limit. */
export const MAX_NAME_BYTES = 1024;
/** listen and upstream: a host name is at most 253 bytes; the rest is room for brackets and port. */
export const MAX_ADDRESS_BYTES = 1024;
/** Toxiproxy's attributes are int64; a JavaScript number holds integers exactly up to 2^53 − 1. */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;
/** Toxiproxy's toxicity is a float32. */
const MAX_FLOAT32 = 3.4028234663852886e38;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON name of a value's type, for messages ("expected a string, got array"). */
export function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/**
 * A member as Go's decoder assigns it to a struct field: keys match regardless of case ("Upstream"
 * is upstream), and of several that match the last wins.
 */
export function member(o: Record<string, unknown>, key: string): unknown {
  let v: unknown;
  for (const k of Object.keys(o)) if (k === key || (k.length === key.length && k.toLowerCase() === key)) v = o[k];
  return v;
}

/**
 * Go's wording, with the Go field Toxiproxy decodes into ("Proxy.name", "LatencyToxic.attributes.latency"):
 * the value is named only when a number does not fit a numeric field.
 */
function cannotUnmarshal(v: unknown, goField: string, goType: string): ApiError {
  // Go prints the number as sent; 1e300 is the usual way to send a huge one (JavaScript writes 1e+300).
  const what =
    typeof v === 'number' && (goType === 'int64' || goType === 'float32')
      ? `number ${String(v).replace('e+', 'e')}`
      : jsonType(v);
  return badRequestBody(`json: cannot unmarshal ${what} into Go struct field ${goField} of type ${goType}`);
}

/** Throws the Toxiproxy-worded 400 for anything but an object; `goType` is what Toxiproxy decodes into. */
export function objectOf(v: unknown, goType: string): asserts v is Record<string, unknown> {
  if (!isObject(v)) throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into Go value of type ${goType}`);
}

/** A string field of Go struct `struct`, at most `maxBytes` bytes of UTF-8; absent or null gives `fallback`. */
export function stringField<T extends string | undefined>(
  o: Record<string, unknown>,
  struct: string,
  key: string,
  fallback: T,
  maxBytes = MAX_ADDRESS_BYTES,
): string | T {
  const v = member(o, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') throw cannotUnmarshal(v, `${struct}.${key}`, 'string');
  // Byte length only matters near the bound: a string of n UTF-16 units is at most 3n bytes.
  if (v.length * 3 > maxBytes && Buffer.byteLength(v) > maxBytes)
    throw badRequestBody(`${key} is longer than ${maxBytes} bytes`);
  return v;
}

export function booleanField<T extends boolean | undefined>(
  o: Record<string, unknown>,
  struct: string,
  key: string,
  fallback: T,
): boolean | T {
  const v = member(o, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw cannotUnmarshal(v, `${struct}.${key}`, 'bool');
  return v;
}

/**
 * An int64 as Go decodes it, within what a number holds exactly; `min`/`max` are tcplens's own
 * bounds where a value has no meaning outside them.
 */
export function integerValue(
  v: unknown,
  field: string,
  goField: string,
  min = -MAX_INTEGER,
  max = MAX_INTEGER,
): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) >= 2 ** 63)
    throw cannotUnmarshal(v, goField, 'int64');
  if (Math.abs(v) > MAX_INTEGER)
    throw badRequestBody(`${field}: ${v} is beyond ±${MAX_INTEGER}, the largest integer held exactly`);
  if (v < min || v > max) {
    const range =
      min === -MAX_INTEGER ? `at most ${max}` : max === MAX_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw badRequestBody(`${field} must be ${range}, not ${v}`);
  }
  return v === 0 ? 0 : v;
}

/** A float32 as Go decodes it: any finite number in its range (Toxiproxy takes toxicity 5 or -1). */
export function float32Value(v: unknown, goField: string): number {
  if (typeof v !== 'number' || !(Math.abs(v) <= MAX_FLOAT32)) throw cannotUnmarshal(v, goField, 'float32');
  return v === 0 ? 0 : v; // -0 would be shown as 0 anyway
}

/** A list, or the Toxiproxy-worded 400. */
export function arrayOf(v: unknown, goField: string, goType: string): unknown[] {
  if (!Array.isArray(v)) throw cannotUnmarshal(v, goField, goType);
  return v;
}
