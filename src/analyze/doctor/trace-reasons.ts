// Doctor with --trace: the reasons behind the counters. Evidence lines for the accept-queue and
// reset findings, the part of ListenOverflows no tracepoint sees, and rules only tracing can make.

import type { Finding } from '../../model/finding.ts';
import { dropReasonMeaning } from '../drop-reasons.ts';
import { resetReasonMeaning } from '../reset-reasons.ts';
import type { DoctorSnapshot, ReasonCount } from './snapshot.ts';
import { formatCount } from '../../text/number.ts';
import { formatHostPort } from '../../text/host-port.ts';

/** At most this many evidence lines of reasons per finding. */
const MAX_LINES = 6;

const end = (c: ReasonCount) => formatHostPort(c.address, c.port);
const owner = (c: ReasonCount) => (c.pid !== undefined ? ` (${c.process ?? '?'}/${c.pid})` : '');

/** `TCP_LISTEN_OVERFLOW ×8 on 127.0.0.1:8080 (python3/123)` */
export function reasonLine(c: ReasonCount, what: 'on' | 'from' = 'on'): string {
  return `${c.reason} ×${formatCount(c.count)} ${what} ${end(c)}${owner(c)}${c.where ? ` at ${c.where}` : ''}`;
}

/** An ACK refused at a full accept queue for a SYN-cookie connection: the cookie checked out, the queue had no room. */
const isCookieOverflow = (c: ReasonCount) => c.reason === 'NO_SOCKET' && /^cookie_v[46]_check$/.test(c.where ?? '');

export interface ListenOverflowPartition {
  overflows: number;
  /** Drops traced as TCP_LISTEN_OVERFLOW. */
  listenOverflow: number;
  /** Drops traced as NO_SOCKET at cookie_v4_check/cookie_v6_check (the same overflow, for SYN-cookie connections). */
  cookie: number;
  /** The rest: SYNs refused at the full queue, which the kernel drops without a drop event. */
  refused: number;
}

/** How a window's ListenOverflows divide between what the tracepoints saw and what they cannot see. */
export function partitionListenOverflows(s: DoctorSnapshot): ListenOverflowPartition | undefined {
  if (!s.trace) return undefined;
  const overflows = s.deltas['TcpExt.ListenOverflows'] ?? 0;
  const sum = (pred: (c: ReasonCount) => boolean) => s.trace!.drops.filter(pred).reduce((n, c) => n + c.count, 0);
  const listenOverflow = sum((c) => c.reason === 'TCP_LISTEN_OVERFLOW');
  const cookie = sum(isCookieOverflow);
  return { overflows, listenOverflow, cookie, refused: Math.max(0, overflows - listenOverflow - cookie) };
}

function partitionLine(p: ListenOverflowPartition): string {
  const seen = p.listenOverflow + p.cookie;
  const parts = [
    p.listenOverflow && `${formatCount(p.listenOverflow)} TCP_LISTEN_OVERFLOW`,
    p.cookie && `${formatCount(p.cookie)} NO_SOCKET at cookie_v*_check (SYN-cookie connections)`,
  ].filter(Boolean);
  return (
    `${formatCount(p.overflows)} ListenOverflows: ${formatCount(seen)} drops seen with reasons${parts.length ? ` (${parts.join(', ')})` : ''}, ` +
    `${formatCount(p.refused)} SYNs refused at the full queue (no tracepoint)` +
    (seen > p.overflows
      ? ' — the trace saw more than the counter: their windows differ by the time bpftrace takes to stop'
      : '')
  );
}

/** The findings of the rules with the trace's reasons added as evidence. */
export function withTraceEvidence(findings: Finding[], s: DoctorSnapshot): Finding[] {
  const t = s.trace;
  if (!t) return findings;
  return findings.map((f) => {
    if (f.id === 'accept-queue-overflow') {
      const p = partitionListenOverflows(s)!;
      const lines = t.drops
        .filter((c) => c.reason === 'TCP_LISTEN_OVERFLOW' || isCookieOverflow(c))
        .slice(0, MAX_LINES)
        .map((c) => reasonLine(c));
      return { ...f, evidence: [...f.evidence, partitionLine(p), ...lines] };
    }
    if (f.id === 'connection-resets') {
      const lines = t.resetsSent.slice(0, MAX_LINES).map((c) => resetLine(c));
      return {
        ...f,
        evidence: [
          ...f.evidence,
          ...(lines.length
            ? lines
            : [`no reset sent from this host was traced in ${t.durationS} s: they came from the peers`]),
        ],
      };
    }
    return f;
  });
}

/** `NO_SOCKET ×100 from 127.0.0.1:9999: nothing listens there` */
function resetLine(c: ReasonCount): string {
  const why = resetReasonMeaning(c.reason);
  return `${reasonLine(c, 'from')}${why ? `: ${why}` : ''}`;
}

/** Rules only tracing can make. */
export function traceReasons(s: DoctorSnapshot): Finding[] {
  const t = s.trace;
  if (!t) return [];
  const out: Finding[] = [];
  const aborts = t.resetsSent.filter((c) => c.reason === 'TCP_ABORT_ON_CLOSE');
  const abortCount = aborts.reduce((n, c) => n + c.count, 0);
  if (abortCount > 0) {
    out.push({
      id: 'abort-on-close',
      severity: 'warning',
      title: `${formatCount(abortCount)} connections reset because their application closed them with data unread`,
      evidence: aborts.slice(0, MAX_LINES).map((c) => reasonLine(c, 'from')),
      mechanism:
        'When an application closes a socket whose receive queue still holds data, the kernel sends RST instead of FIN (RFC 2525, 2.17) and throws the data away. The peer gets ECONNRESET, and may lose a response it had not yet read.',
      fix: [
        'read what the peer sent before closing: consume the request body, or shutdown(SHUT_WR), read until EOF, then close()',
        "in Node: socket.end() and let 'end' arrive, rather than socket.destroy() with data pending",
        `see them as they happen: tcplens trace --events reset${aborts[0] ? ` --port ${aborts[0].port}` : ''}`,
      ],
    });
  }
  const explained = (c: ReasonCount) => c.reason === 'TCP_LISTEN_OVERFLOW' || isCookieOverflow(c);
  const other = t.drops.filter((c) => !explained(c));
  const otherCount = other.reduce((n, c) => n + c.count, 0);
  if (otherCount > 0) {
    out.push({
      id: 'drops-with-reasons',
      severity: 'info',
      title: `${formatCount(otherCount)} TCP packets dropped by the kernel, with its reasons`,
      evidence: other.slice(0, MAX_LINES).map((c) => {
        const m = dropReasonMeaning(c.reason);
        return `${reasonLine(c)}${m ? `: ${m.meaning}${m.counter ? ` (${m.counter})` : ''}` : ''}`;
      }),
      mechanism:
        'skb:kfree_skb reports every packet the kernel frees as dropped, with the reason it was given (Linux 5.17+). Each reason names one check that failed; the counter beside it is the one it moved.',
      fix: [`follow them live: tcplens trace --events drop${other[0] ? ` --port ${other[0].port}` : ''}`],
    });
  }
  if (t.lostEvents > 0) {
    out.push({
      id: 'trace-lost-events',
      severity: 'info',
      title: `tracing lost ${formatCount(t.lostEvents)} events: the counts of reasons are short by up to that many`,
      evidence: [`${formatCount(t.lostEvents)} events lost or skipped by bpftrace in ${t.durationS} s`],
      mechanism: "bpftrace's per-CPU buffers overflowed, or a BPF program was already running on that CPU.",
      fix: ['trace a narrower window: doctor --port PORT --trace SECONDS'],
    });
  }
  return out;
}
