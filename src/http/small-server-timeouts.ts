// The timeouts of tcplens's own small HTTP servers (the exporter and the dashboard). Node's defaults
// let a client take 60 s to send a request head and check that only every 30 s, so a crowd of
// half-sent requests (slowloris) holds sockets for a minute and more: on an exporter that listens on
// every interface for Prometheus, anyone who can reach the port could exhaust its descriptors.

import type { ServerOptions } from 'node:http';

export const SMALL_SERVER_TIMEOUTS = {
  /** A request head must arrive within this: Prometheus and browsers send theirs at once. */
  headersTimeout: 10_000,
  /** A whole request (a dashboard upload included) must arrive within this; responses (the live stream) are not bound by it. */
  requestTimeout: 30_000,
  /** How often Node checks the two above: well below them, or they do not bite. */
  connectionsCheckingInterval: 1_000,
} as const satisfies ServerOptions;
