// What a run recorded, as summarize() takes it: the tests' way to make results from a Recorder they filled.

import type { Recorder } from '../../src/bench/recorder.ts';
import type { RunData } from '../../src/bench/summarize.ts';

/** A keep-alive GET run of 4 connections over 2 s holding what `rec` recorded; `over` changes the rest. */
export function runData(rec: Recorder, over: Partial<RunData> = {}): RunData {
  return {
    target: 'http://127.0.0.1:8080/',
    mode: 'keepalive',
    method: 'GET',
    connections: 4,
    pipelining: 1,
    workers: 1,
    durationS: 2,
    latency: rec.latency,
    connect: rec.connect,
    tls: rec.tls,
    tlsUsed: false,
    statuses: rec.statuses,
    errors: rec.errors,
    ok: rec.ok,
    completed: rec.completed,
    failed: rec.failed,
    bytesRead: rec.bytesRead,
    connectionsOpened: rec.connectionsOpened,
    connectErrors: rec.connectErrors,
    connectionsFromWarmup: rec.connectionsFromWarmup,
    timeline: rec.timeline,
    ...over,
  };
}
