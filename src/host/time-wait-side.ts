// Whose TIME_WAIT a socket is: the one rule every reader of the host uses (doctor, the sampler
// behind exporter and dashboard, bench's footprint), so that they cannot disagree.

/**
 * The side that closed first and so holds the TIME_WAIT: the server's when its local port is a
 * port this host listens on, the client's otherwise (its local port is then an ephemeral one, and
 * its remote port the server's). `listening[port]` is 1 for a listening port.
 *
 * Both sources list a family's listeners before its connections (the kernel dumps the listening
 * hash before the established one; /proc/net/tcp prints them in the same order), so a scan that
 * marks listeners as it meets them can decide each TIME_WAIT on the spot.
 */
export function isServerTimeWait(localPort: number, listening: Uint8Array): boolean {
  return listening[localPort] === 1;
}
