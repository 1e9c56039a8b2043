// host:port as a URL writes it: an IPv6 address in brackets ([::1]:8080), anything else as is.

/**
 * A host as it goes before ":port" or into a URL: "[::1]" for an IPv6 address, "127.0.0.1", names and
 * an address already in brackets unchanged.
 */
export function bracketHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** "127.0.0.1:80", "[::1]:80", "localhost:80". */
export function formatHostPort(host: string, port: number | string): string {
  return `${bracketHost(host)}:${port}`;
}
