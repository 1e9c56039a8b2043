// Text for `tcplens trace`: live event lines under a header, NDJSON lines, and the end-of-trace summary.

import type { TraceBackend, TraceEvent } from '../trace/event.ts';
import type { TraceSummary } from '../trace/summary.ts';
import { TCP_STATES } from '../model/tcp-state.ts';
import { dropReasonMeaning } from '../analyze/drop-reasons.ts';
import { formatCount } from '../text/number.ts';
import { type Color, paint, renderTable } from './table.ts';
import { formatHostPort } from '../text/host-port.ts';
import { TraceNdjsonWriter } from './trace-ndjson.ts';

// ---- NDJSON ----------------------------------------------------------------------------------

/** One event as its NDJSON object: the documented fields in a fixed order, time as ISO-8601, the internal id left out. */
export function traceEventJson(e: TraceEvent): Record<string, unknown> {
  const o: Record<string, unknown> = {
    time: new Date(e.timeMs).toISOString(),
    type: e.type,
    pid: e.pid,
    comm: e.comm,
    family: e.family,
    saddr: e.saddr,
    sport: e.sport,
    daddr: e.daddr,
    dport: e.dport,
    oldState: e.oldState,
    newState: e.newState,
    ms: e.ms,
    sk: skId(e.sk),
  };
  if (e.derived) o.derived = true;
  if (e.sampled) o.sampled = true;
  if (e.reason !== undefined) o.reason = e.reason;
  if (e.type === 'drop') {
    o.direction = e.direction;
    o.where = e.where ?? null;
    if (e.noise) o.noise = true;
  }
  if (e.type === 'life') {
    o.bytesSent = e.bytesSent;
    o.bytesReceived = e.bytesReceived;
  }
  return o;
}

/** The socket id in JSON: null when the event had no socket (a reset or drop for a closed port). */
const skId = (sk: string): string | null => (sk === '0' ? null : sk);

const lineWriter = new TraceNdjsonWriter();

/** traceEventJson(e) as one NDJSON line, as `trace --json` writes it (TraceNdjsonWriter, fast enough for every event). */
export function traceEventLine(e: TraceEvent): string {
  return lineWriter.line(e);
}

/** The first NDJSON line, once events are being captured (bpftrace compiles for seconds first): a script starts its traffic after it. */
export function startLine(backend: TraceBackend, timeMs = Date.now()): string {
  return JSON.stringify({ time: new Date(timeMs).toISOString(), type: 'start', backend }) + '\n';
}

export function lostLine(events: number, timeMs = Date.now()): string {
  return JSON.stringify({ time: new Date(timeMs).toISOString(), type: 'lost', events }) + '\n';
}

export function summaryLine(s: TraceSummary): string {
  return JSON.stringify({ type: 'summary', ...s }) + '\n';
}

// ---- live table ------------------------------------------------------------------------------

const WIDTH = { time: 12, who: 20, local: 22, remote: 22, what: 30 } as const;

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

// Local HH:MM:SS.mmm, the part down to the second cached: one event after another share it.
let clockSecond = NaN;
let clockPrefix = '';
function clock(timeMs: number): string {
  const second = Math.floor(timeMs / 1000);
  if (second !== clockSecond) {
    clockSecond = second;
    const d = new Date(second * 1000);
    const two = (n: number) => (n < 10 ? '0' : '') + n;
    clockPrefix = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.`;
  }
  const ms = Math.floor(timeMs - second * 1000);
  return `${clockPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`;
}

export function traceHeader(opts: { sampled?: boolean; intervalMs?: number } = {}): string {
  const head =
    pad('TIME', WIDTH.time) +
    '  ' +
    pad('PID/COMM', WIDTH.who) +
    '  ' +
    pad('LOCAL', WIDTH.local) +
    '  ' +
    pad('REMOTE', WIDTH.remote) +
    '  ' +
    pad('EVENT', WIDTH.what) +
    '  MS(old state)\n';
  return opts.sampled
    ? `sampled every ${opts.intervalMs} ms from /proc/net/tcp: changes between two snapshots only\n${head}`
    : head;
}

function what(e: TraceEvent): { text: string; color?: Color } {
  switch (e.type) {
    case 'state': {
      const text = `${e.oldState ?? '(new)'} → ${e.newState}${e.derived ? '*' : ''}`;
      const color: Color | undefined =
        e.newState === 'TIME_WAIT' ? 'yellow' : e.newState === 'CLOSE_WAIT' ? 'red' : undefined;
      return { text, color };
    }
    case 'reset-sent':
      return {
        text: `RST sent ${e.oldState ? `in ${e.oldState}` : '(no socket)'}${e.reason ? ` ${e.reason}` : ''}`,
        color: 'red',
      };
    case 'reset-received':
      return { text: `RST received${e.oldState ? ` in ${e.oldState}` : ''}`, color: 'red' };
    case 'retransmit':
      return { text: `retransmit${e.oldState ? ` in ${e.oldState}` : ''}`, color: 'yellow' };
    case 'synack-retransmit':
      return { text: 'SYN-ACK retransmit', color: 'yellow' };
    case 'drop':
      return {
        text: `dropped${e.direction === 'out' ? ' outgoing' : ''}${e.oldState ? ` in ${e.oldState}` : ' (no socket)'}: ${e.reason}`,
        color: e.noise ? 'dim' : 'red',
      };
    case 'life':
      return {
        text: `closed from ${e.oldState ?? '?'}: sent ${formatBytes(e.bytesSent ?? 0)}, received ${formatBytes(e.bytesReceived ?? 0)}`,
      };
  }
}

/** One live line: time, pid/comm, local → remote, what happened, ms in the old state. */
export function traceEventText(e: TraceEvent, color: boolean): string {
  const who = e.pid === null ? '-' : `${e.pid}/${e.comm ?? '?'}`;
  const w = what(e);
  const ms = e.ms === null ? '' : e.ms.toFixed(3);
  return (
    (
      pad(clock(e.timeMs), WIDTH.time) +
      '  ' +
      pad(who, WIDTH.who) +
      '  ' +
      pad(formatHostPort(e.saddr, e.sport), WIDTH.local) +
      '→ ' +
      pad(formatHostPort(e.daddr, e.dport), WIDTH.remote) +
      '  ' +
      paint(pad(w.text, WIDTH.what), w.color, color) +
      '  ' +
      ms
    ).trimEnd() + '\n'
  );
}

// ---- summary ---------------------------------------------------------------------------------

function formatBytes(n: number): string {
  if (n < 10_000) return `${n} B`;
  if (n < 10_000_000) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 3 : 1)} ms`;
}

function matrix(s: TraceSummary, color: boolean): string {
  if (s.transitions.length === 0) return 'no state changes seen\n';
  const label = (t: { to: string; derived: boolean }) => (t.derived ? `${t.to}*` : t.to);
  const order = (name: string) => {
    const i = TCP_STATES.indexOf(name.replace('*', '') as (typeof TCP_STATES)[number]);
    return (i < 0 ? 99 : i) + (name.endsWith('*') ? 0.5 : 0);
  };
  const columns = [...new Set(s.transitions.map(label))].sort((a, b) => order(a) - order(b));
  const rows = [...new Set(s.transitions.map((t) => t.from ?? '(new)'))].sort((a, b) => order(a) - order(b));
  const cell = new Map(s.transitions.map((t) => [`${t.from ?? '(new)'}>${label(t)}`, t.count]));
  const body = rows.map((r) => [
    r,
    ...columns.map((c) => (cell.has(`${r}>${c}`) ? formatCount(cell.get(`${r}>${c}`)!) : '')),
  ]);
  const table = renderTable(
    [{ header: 'FROM \\ TO' }, ...columns.map((c) => ({ header: c, align: 'right' as const }))],
    body,
  );
  const note = columns.some((c) => c.endsWith('*'))
    ? paint(
        '* derived: the kernel reports FIN_WAIT2/CLOSING → CLOSE as it hands the connection to a timewait socket\n',
        'dim',
        color,
      )
    : '';
  return table + note;
}

export function renderTraceSummary(s: TraceSummary, color: boolean): string {
  const parts: string[] = [];
  const how =
    s.backend === 'poll'
      ? `sampled every ${s.intervalMs} ms from /proc/net/tcp`
      : s.backend === 'tracefs'
        ? "traced through the kernel's trace buffer (tracefs)"
        : 'traced through bpftrace';
  const e = s.events;
  parts.push(
    paint(`Summary: ${s.durationS.toFixed(1)} s ${how}`, 'bold', color) +
      `: ${formatCount(e.state)} state changes, ${formatCount(e['reset-sent'])} resets sent, ${formatCount(e['reset-received'])} received, ` +
      `${formatCount(e.retransmit)} retransmits, ${formatCount(e['synack-retransmit'])} SYN-ACK retransmits` +
      (e.drop ? `, ${formatCount(e.drop)} drops` : '') +
      (e.life ? `, ${formatCount(e.life)} connections ended` : '') +
      '\n',
  );
  if (s.lostEvents > 0) {
    parts.push(
      paint(`bpftrace lost ${formatCount(s.lostEvents)} events (the kernel's perf buffer overflowed)\n`, 'red', color),
    );
  }
  if (s.missedEvents > 0) {
    parts.push(
      paint(
        `the kernel skipped ${formatCount(s.missedEvents)} events (a BPF program was already running on that CPU)\n`,
        'red',
        color,
      ),
    );
  }
  parts.push('\n' + paint('Transitions', 'bold', color) + '\n' + matrix(s, color));
  const l = s.lifetimes;
  parts.push(
    '\n' +
      paint('Connection lifetimes', 'bold', color) +
      ' (open to close, seen whole): ' +
      (l
        ? `${formatCount(l.count)} connections, p50 ${ms(l.p50Ms)}, p90 ${ms(l.p90Ms)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)}\n`
        : 'none\n'),
  );
  if (s.resets.length) {
    parts.push('\n' + paint('Resets', 'bold', color) + ' (by the server port of the connection)\n');
    parts.push(
      renderTable(
        [
          { header: 'DIRECTION' },
          { header: 'PORT', align: 'right' },
          { header: 'REASON' },
          { header: 'COUNT', align: 'right' },
        ],
        s.resets.map((r) => [r.direction, String(r.port), r.reason ?? '-', formatCount(r.count)]),
      ),
    );
  }
  if (s.drops.length) {
    const shown = s.drops.filter((d) => !d.noise);
    const noise = s.drops.filter((d) => d.noise);
    parts.push(
      '\n' + paint('Drops', 'bold', color) + " (by the kernel's reason and the server port of the connection)\n",
    );
    if (shown.length) {
      parts.push(
        renderTable(
          [
            { header: 'REASON' },
            { header: 'PORT', align: 'right' },
            { header: 'COUNT', align: 'right' },
            { header: 'MEANING' },
          ],
          shown
            .slice(0, 30)
            .map((d) => [d.reason, String(d.port), formatCount(d.count), dropReasonMeaning(d.reason)?.meaning ?? '']),
        ),
      );
    }
    if (noise.length) {
      const byReason = new Map<string, number>();
      for (const d of noise) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + d.count);
      const list = [...byReason].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ×${formatCount(n)}`);
      parts.push(
        paint(`not shown one by one (reasons that say nothing about TCP): ${list.join(', ')}\n`, 'dim', color),
      );
    }
  }
  if (s.retransmits.length) {
    parts.push('\n' + paint('Retransmits by peer', 'bold', color) + '\n');
    parts.push(
      renderTable(
        [{ header: 'PEER' }, { header: 'RETRANSMITS', align: 'right' }, { header: 'SYN-ACK', align: 'right' }],
        s.retransmits.slice(0, 20).map((p) => [p.peer, formatCount(p.retransmits), formatCount(p.synackRetransmits)]),
      ),
    );
  }
  return parts.join('');
}
