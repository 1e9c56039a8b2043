// What bench's footprint sampler reports from its worker thread, and how far apart its scans are:
// shared by the worker and the main thread's side, which import nothing of each other.

export interface FootprintSample {
  /** Seconds since the sampler started. */
  t: number;
  /** When the scan ended, ms since the epoch (performance.timeOrigin + now()): comparable across threads. */
  atMs: number;
  /** TIME_WAIT with the target's port as the remote port: this host's client side. */
  timeWaitClient: number;
  /** TIME_WAIT with the target's port as the local port: the server side, when it runs here. */
  timeWaitServer: number;
  /**
   * Sockets towards the target address and port, any state but LISTEN, whose local port lies in
   * ip_local_port_range and is not reserved: the ephemeral ports held. Ports outside it (TIME_WAIT
   * from before the range was narrowed, explicit binds) take nothing from the range.
   */
  ephemeral: number;
  /**
   * Of the TIME_WAIT on each side, those that began after the measured part did (or, before it is
   * known, after sampling started): their 60 s timer has more left than the time since then.
   */
  timeWaitClientNew: number;
  timeWaitServerNew: number;
  /** The first sample that counts new TIME_WAIT from the start of the measured part (end of warm-up). */
  mark?: true;
}

/** Scans at most 5% of a core: once per intervalMs, or 20x the last scan's cost when that is longer. */
export function sampleSpacingMs(scanCostMs: number, intervalMs = 1000): number {
  return Math.max(intervalMs, scanCostMs * 20);
}
