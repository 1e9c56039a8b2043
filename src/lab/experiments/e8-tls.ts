// E8 of the lab: what TLS costs per connection — a full handshake for every request, a resumed
// session (ticket) for every request, and keep-alive (one handshake for many requests).

import type { Cell, Experiment, LabChart } from '../experiment.ts';
import { startServe, labPlace, runScriptJson } from '../steps.ts';
import { formatCell } from '../../text/number.ts';
import type { TlsMode, TlsResult } from '../scripts/https-client.ts';

const LABELS: Record<TlsMode['mode'], string> = {
  // Short: they head the table's columns. The first two open a new connection per request.
  full: 'full handshake',
  resumed: 'resumed session',
  keepalive: 'keep-alive',
};

/** ms to two decimals, once, for the rows and the sentences alike. */
const ms2 = (x: number) => Math.round(x * 100) / 100;

/** The conclusion, from the three modes' numbers (full, resumed, keep-alive, in that order). */
export function conclude(modes: TlsResult['modes']): string {
  const [full, resumed, keepalive] = modes;
  const parts: string[] = [];
  const x = (a: number, b: number) => (b > 0 ? (a / b).toFixed(1) : '∞');
  if (resumed.resumed === 0) {
    parts.push(
      `The server resumed none of ${resumed.handshakes} sessions offered (${resumed.protocol}): every connection paid a full handshake, so resumption could not be measured.`,
    );
  } else {
    const share = Math.round((resumed.resumed / Math.max(1, resumed.handshakes)) * 100);
    // Faster handshakes and a higher rate are two claims, each from its own number: on a busy machine one can hold without the other.
    const faster = resumed.handshakeMs.p50 < full.handshakeMs.p50;
    const rateUp = resumed.perSecond > full.perSecond;
    const rates = `${resumed.perSecond} new connections per second against ${full.perSecond} with full handshakes`;
    parts.push(
      `With ${full.protocol}, a full handshake took p50 ${formatCell(ms2(full.handshakeMs.p50))} ms and a resumed one ${formatCell(ms2(resumed.handshakeMs.p50))} ms ` +
        `(${share}% of the offered tickets accepted)` +
        (faster && rateUp
          ? `: resumption made handshakes ${x(full.handshakeMs.p50, resumed.handshakeMs.p50)}x faster and raised the rate of new connections from ${full.perSecond} to ${resumed.perSecond} per second.`
          : faster
            ? `: resumed handshakes were ${x(full.handshakeMs.p50, resumed.handshakeMs.p50)}x faster at the median, yet the rate did not rise (${rates}): the handshake was not what limited it here.`
            : rateUp
              ? `: no faster at the median, though the rate was higher (${rates}).`
              : `: no faster here (${full.perSecond} vs ${resumed.perSecond} requests/s) — TLS 1.3 resumption still does a key exchange, and on this machine that dominates.`),
    );
  }
  parts.push(
    keepalive.perSecond > Math.max(full.perSecond, resumed.perSecond)
      ? `Keep-alive did ${keepalive.perSecond} requests/s with ${keepalive.handshakes} handshake${keepalive.handshakes === 1 ? '' : 's'} in all — ${x(keepalive.perSecond, full.perSecond)}x the full-handshake rate: the cheapest handshake is the one not made.`
      : `Keep-alive did ${keepalive.perSecond} requests/s, not more than new connections (${full.perSecond} / ${resumed.perSecond}): the handshake was not the bottleneck here.`,
  );
  const errors = full.errors + resumed.errors + keepalive.errors;
  if (errors > 0) parts.push(`${errors} requests failed.`);
  return parts.join(' ');
}

export const experiment: Experiment = {
  id: 'E8',
  title: 'TLS: full handshakes vs session resumption vs keep-alive',
  shows:
    'Every new TLS connection pays a handshake on top of TCP’s: key exchange, the certificate and its signature. A client ' +
    'that resumes a session (TLS 1.3 tickets: Node clients must keep the ticket from the “session” event and pass it back, ' +
    'https.Agent does, a bare tls.connect does not, nor does tcplens bench) skips the certificate and signature; a keep-alive ' +
    'connection skips the handshake for every request after its first. The same https server (tcplens serve --tls, a ' +
    'self-signed EC P-256 certificate) is loaded the three ways by the same number of concurrent clients.',
  async run(ctx) {
    const quick = ctx.quick;
    const p = await labPlace(ctx);
    ctx.progress(`starting the https server (${p.where})`);
    const server = await startServe(ctx, { ns: p.serverNs, host: p.host, args: ['--no-debug', '--tls'] });
    ctx.progress('full handshakes, resumed sessions, keep-alive');
    // Quick runs measure one client at a time: with fewer handshakes, queueing on 2 cores would hide the difference.
    const lanes = quick ? 1 : 8;
    const r = await runScriptJson<TlsResult>(
      ctx,
      p,
      'https-client',
      { url: server.url, lanes, durationMs: quick ? 600 : 3000 },
      120_000,
    );
    const [full, resumed] = r.modes;

    const rows: Record<string, Cell>[] = r.modes.map((m) => ({
      mode: LABELS[m.mode],
      protocol: m.protocol,
      requests: m.requests,
      rps: m.perSecond,
      handshakes: m.handshakes,
      resumed: m.resumed,
      handshakeMsP10: ms2(m.handshakeMs.p10),
      handshakeMsP50: ms2(m.handshakeMs.p50),
      handshakeMsP99: ms2(m.handshakeMs.p99),
      errors: m.errors,
    }));
    const charts: LabChart[] = [
      {
        title: `Requests per second (${lanes} concurrent clients)`,
        kind: 'bar',
        xLabel: 'mode',
        yLabel: 'requests/s',
        series: [{ label: 'rps', points: r.modes.map((m) => [LABELS[m.mode], m.perSecond] as [string, number]) }],
      },
      {
        title: 'TLS handshake time',
        kind: 'bar',
        xLabel: 'mode',
        yLabel: 'ms',
        series: [
          { label: 'p50', points: [full, resumed].map((m) => [LABELS[m.mode], m.handshakeMs.p50] as [string, number]) },
          { label: 'p99', points: [full, resumed].map((m) => [LABELS[m.mode], m.handshakeMs.p99] as [string, number]) },
        ],
      },
    ];

    return { rows, charts, conclusion: conclude(r.modes) };
  },
};
