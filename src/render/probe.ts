// Text for `tcplens probe`: one waterfall line per request, aligned, like httpstat.

import type { ProbeResult } from '../probe/probe.ts';
import { paint, renderTable } from './table.ts';

const PHASES = [
  ['dns', 'cyan', 'D'],
  ['connect', 'yellow', 'C'],
  ['tls', 'green', 'T'],
  ['wait', 'dim', 'W'],
  ['transfer', 'bold', 'X'],
] as const;

export function renderProbe(r: ProbeResult, color: boolean, width = 40): string {
  const longest = Math.max(1, ...r.requests.map((q) => q.timingsMs.total));
  const rows = r.requests.map((q) => {
    if (q.error) return [String(q.index + 1), '-', '-', paint(q.error, 'red', color), '', '', '', '', '', ''];
    const t = q.timingsMs;
    const wait = Math.max(0, t.ttfb - t.dns - t.connect - t.tls);
    const parts: Record<string, number> = { dns: t.dns, connect: t.connect, tls: t.tls, wait, transfer: t.transfer };
    let bar = '';
    for (const [name, col, ch] of PHASES) {
      const n = Math.round((parts[name]! / longest) * width);
      bar += paint(ch.repeat(n), col, color);
    }
    return [
      String(q.index + 1),
      q.reused ? 'reused' : 'new',
      `:${q.localPort}`,
      String(q.status),
      t.dns.toFixed(1),
      t.connect.toFixed(1),
      t.tls.toFixed(1),
      t.ttfb.toFixed(1),
      t.total.toFixed(1),
      bar,
    ];
  });
  const table = renderTable(
    [
      { header: '#', align: 'right' },
      { header: 'conn' },
      { header: 'local' },
      { header: 'status' },
      { header: 'dns', align: 'right' },
      { header: 'connect', align: 'right' },
      { header: 'tls', align: 'right' },
      { header: 'ttfb', align: 'right' },
      { header: 'total', align: 'right' },
      { header: 'D dns C connect T tls W wait X transfer (ms)' },
    ],
    rows,
  );
  const first = r.requests.find((q) => q.status > 0);
  const extra: string[] = [];
  if (first?.tls)
    extra.push(
      `TLS ${first.tls.protocol} ${first.tls.cipher}${first.tls.alpn ? ` ALPN ${first.tls.alpn}` : ''}; resumed: ${r.requests.filter((q) => q.tls?.resumed).length} of ${r.requests.length}\n`,
    );
  if (first)
    extra.push(`server: Connection: ${first.connection ?? '(none)'}, Keep-Alive: ${first.keepAlive ?? '(none)'}\n`);
  for (const w of r.warnings) extra.push(paint(`warning: ${w}`, 'yellow', color) + '\n');
  return `${r.url}\n\n${table}\n${extra.join('')}`;
}
