// What a load run measured: latency histograms, statuses, errors by code, a per-second timeline.
// One recorder per engine (thread); results of several are added exactly by merging histograms.

import * as hdr from 'hdr-histogram-js';
import { newHistogram } from '../text/histogram.ts';

/** p99 in milliseconds of a compressed microsecond histogram (0 when empty or missing). */
export function p99OfEncoded(encoded: string | undefined): number {
  if (!encoded) return 0;
  const h = hdr.decodeFromCompressedBase64(encoded, 32, false);
  return h.totalCount ? h.getValueAtPercentile(99) / 1000 : 0;
}

export interface ErrorCount {
  count: number;
  /** The first message seen for this code, verbatim. */
  first: string;
}

export interface SecondSample {
  /** Seconds since the measured part of the run began (end of this second). */
  t: number;
  requests: number;
  errors: number;
  /** Latency of the requests completed this second, compressed HDR (merged across threads). */
  histogram: string;
}

export class Recorder {
  /** Every latency of the run, up to the last second closed (tick) or flushed. */
  latency = newHistogram();
  connect = newHistogram();
  tls = newHistogram();
  private second = newHistogram();
  statuses = new Float64Array(1000);
  errors = new Map<string, ErrorCount>();
  ok = 0;
  completed = 0;
  failed = 0;
  bytesRead = 0;
  connectionsOpened = 0;
  /** Connect attempts that failed: no request went out on them, so they are not in failed. */
  connectErrors = 0;
  /** Connections open when warm-up ended (set by the engine then): they carry measured requests. */
  connectionsFromWarmup: number | undefined;
  private secondRequests = 0;
  private secondErrors = 0;
  timeline: SecondSample[] = [];
  /** Off during warm-up: nothing is counted. */
  recording = true;

  response(status: number, latencyMs: number): void {
    if (!this.recording) return;
    // Into this second's histogram only; it is added to the run's at the end of the second (flush).
    this.second.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    this.statuses[status < 1000 ? status : 0]!++;
    this.completed++;
    this.secondRequests++;
    if (status < 400) this.ok++;
  }

  error(code: string, message: string, requests = 1): void {
    // An idle keep-alive connection that breaks costs no request: nothing to count.
    if (!this.recording || requests === 0) return;
    this.failed += requests;
    this.secondErrors += requests;
    const e = this.errors.get(code);
    if (e) e.count += requests;
    else this.errors.set(code, { count: requests, first: message });
  }

  /** A connect attempt failed: counted by code with the errors, but as an attempt, not a request. */
  /** Bytes that arrived with no request outstanding: no request failed, but the code is counted. */
  unrequested(code: string, message: string): void {
    if (!this.recording) return;
    const e = this.errors.get(code);
    if (e) e.count++;
    else this.errors.set(code, { count: 1, first: message });
  }

  connectFailed(code: string, message: string): void {
    if (!this.recording) return;
    this.connectErrors++;
    // The timeline's errors are the run's errors: failed connects too.
    this.secondErrors++;
    const e = this.errors.get(code);
    if (e) e.count++;
    else this.errors.set(code, { count: 1, first: message });
  }

  connected(connectMs: number, tlsMs: number | undefined): void {
    if (!this.recording) return;
    this.connectionsOpened++;
    this.connect.recordValue(Math.max(1, Math.round(connectMs * 1000)));
    if (tlsMs !== undefined) this.tls.recordValue(Math.max(1, Math.round(tlsMs * 1000)));
  }

  /** Close the current second of the timeline. */
  tick(t: number): SecondSample {
    const sample: SecondSample = {
      t,
      requests: this.secondRequests,
      errors: this.secondErrors,
      histogram: hdr.encodeIntoCompressedBase64(this.second),
    };
    this.timeline.push(sample);
    this.latency.add(this.second);
    this.second.reset();
    this.secondRequests = 0;
    this.secondErrors = 0;
    return sample;
  }

  /** Add what the current second holds to the run's histogram, without closing the second (the run's end). */
  flush(): void {
    this.latency.add(this.second);
    this.second.reset();
  }

  /** Start over, keeping connections: the end of warm-up. */
  reset(): void {
    this.latency.reset();
    this.connect.reset();
    this.tls.reset();
    this.second.reset();
    this.statuses.fill(0);
    this.errors.clear();
    this.ok = this.completed = this.failed = this.bytesRead = this.connectionsOpened = this.connectErrors = 0;
    this.secondRequests = this.secondErrors = 0;
    this.timeline = [];
  }
}
