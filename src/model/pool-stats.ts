// The shape of a client pool's stats: what the pool reports and what serve's /metrics and
// /debug/connections show of the pools an app registers.

export interface PoolStats {
  connected: number;
  free: number;
  pending: number;
  queued: number;
  running: number;
  size: number;
  /** Time requests waited for a connection, ms: the contention signal. */
  queueWaitMs: { count: number; p50: number; p90: number; p99: number; max: number; mean: number };
  retries: number;
}
