// Drops and resets counted by the kernel's reason since a long-running trace began: what the trace
// hands the exporter and the dashboard, which may not import the trace themselves.

export interface ReasonTotals {
  /** Drops by the kernel's name of its enum skb_drop_reason value; names past the cap summed as "other". */
  drops: Record<string, number>;
  /** Resets sent by the kernel's reason (enum sk_rst_reason, Linux 6.10+; "unknown" before), capped likewise. */
  resetsSent: Record<string, number>;
  /** Resets received: the kernel gives no reason for them. */
  resetsReceived: number;
  /** Events the kernel or bpftrace lost (a full perf buffer, a busy CPU): the counts are at least this short. */
  lostEvents: number;
  /** False once the trace has ended on its own (bpftrace died): the totals stop there. */
  running: boolean;
}

/** A running trace's totals, read at every scrape or sample. */
export interface ReasonSource {
  totals(): ReasonTotals;
}

/** The label that stands for every reason past the cap. */
export const OTHER_REASON = 'other';

/** The label of a reset sent by a kernel that gives no reason, and of every reset received. */
export const UNKNOWN_REASON = 'unknown';
