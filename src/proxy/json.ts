// Shape checks for the JSON bodies of the proxy's Toxiproxy-compatible API and its config files.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON name of a value's type, for messages ("expected a string, got array"). */
export function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}
