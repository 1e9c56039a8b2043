// The number in a serve route's URL (/delay/:ms, /bytes/:n, /status/:code), checked against what the
// route can honour. On the request path: a regular expression and a compare, no allocation when it is good.

/** A whole number written with 1 to 10 digits: below 2^53, so Number() reads it exactly. */
const DIGITS = /^\d{1,10}$/;

/**
 * The parameter `name` of `route` (its text after the route's prefix) as an integer in [min, max],
 * or a one-line message that names the parameter and what it takes.
 */
export function routeInt(raw: string, route: string, name: string, min: number, max: number): number | string {
  const n = DIGITS.test(raw) ? Number(raw) : NaN;
  if (n >= min && n <= max) return n;
  const shown = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
  return `${route}: ${name} takes a whole number from ${min} to ${max}, not ${JSON.stringify(shown)}\n`;
}
