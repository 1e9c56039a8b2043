// Every doctor rule, run over one snapshot, worst first. Adding a rule family is adding a file here.

import { SEVERITY_ORDER, type Finding } from '../../model/finding.ts';
import { acceptQueue } from './accept-queue.ts';
import { closeWait } from './close-wait.ts';
import { ephemeralPorts } from './ports.ts';
import type { DoctorSnapshot, Rule } from './snapshot.ts';
import { finTimeout, timeWait } from './time-wait.ts';
import { synQueue } from './syn-queue.ts';
import { resets } from './resets.ts';
import { retransmits } from './retransmits.ts';
import { keepalive, orphans } from './orphans-keepalive.ts';
import { nofile } from './nofile.ts';
import { peerRetransmits } from './peer-retransmits.ts';
import { sendLimits } from './send-limits.ts';
import { sendQueues } from './send-queue.ts';
import { traceReasons, withTraceEvidence } from './trace-reasons.ts';

export const RULES: Rule[] = [
  acceptQueue,
  synQueue,
  timeWait,
  finTimeout,
  ephemeralPorts,
  closeWait,
  resets,
  retransmits,
  peerRetransmits,
  sendLimits,
  sendQueues,
  orphans,
  keepalive,
  nofile,
  traceReasons,
];

export function diagnose(s: DoctorSnapshot): Finding[] {
  return withTraceEvidence(
    RULES.flatMap((rule) => rule(s)),
    s,
  ).sort((a, b) => SEVERITY_ORDER[b.severity] - SEVERITY_ORDER[a.severity]);
}
