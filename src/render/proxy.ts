// Text of `tcplens proxy`: what listens where with which toxics, and the live counts of what they hit.

import type { ProxyJson, ProxyStats } from '../proxy/proxy.ts';
import type { ToxicJson } from '../proxy/toxic-set.ts';
import { formatCount } from '../text/number.ts';

function percent(p: number): string {
  return `${Number((p * 100).toFixed(2))}%`;
}

export function describeToxic(t: ToxicJson, mode: string): string {
  const a = t.attributes;
  const what =
    t.type === 'latency'
      ? `${a.latency}${a.jitter ? `±${a.jitter}` : ''} ms`
      : t.type === 'bandwidth'
        ? `${a.rate} KB/s`
        : t.type === 'slow_close'
          ? `${a.delay} ms`
          : t.type === 'timeout' || t.type === 'stall'
            ? a.timeout
              ? `${a.timeout} ms`
              : 'forever'
            : t.type === 'reset_peer'
              ? `after ${a.timeout} ms`
              : t.type === 'slicer'
                ? `${a.average_size}±${a.size_variation} B every ${a.delay} µs`
                : t.type === 'limit_data'
                  ? `${a.bytes} B`
                  : t.type === 'status'
                    ? `${a.code}${a.retry_after ? `, Retry-After ${a.retry_after} s` : ''}`
                    : t.type === 'reset_body'
                      ? `after ${a.body_bytes} B of body`
                      : t.type === 'noop'
                        ? 'nothing'
                        : JSON.stringify(a);
  const unit = mode === 'http' ? 'requests' : 'connections';
  const from = t.clients ? ` from ${t.clients.join(', ')}` : '';
  return `${t.name} (${t.type} ${what}, ${t.stream}, ${percent(t.toxicity)} of ${unit}${from})`;
}

export function renderStartup(apiUrl: string | undefined, proxies: ProxyJson[]): string {
  const lines: string[] = [];
  lines.push(
    apiUrl
      ? `tcplens proxy: control API on ${apiUrl} (Toxiproxy 2.x compatible; ${apiUrl}/metrics)`
      : 'tcplens proxy: no control API',
  );
  for (const p of proxies) {
    const tls = [
      p.listen_tls ? `TLS from clients${p.listen_tls.self_signed ? ' (self-signed)' : ''}` : '',
      p.upstream_tls ? `TLS to upstream${p.upstream_tls.insecure ? ' (not verified)' : ''}` : '',
    ].filter(Boolean);
    lines.push(
      `  ${p.name}: ${p.listen} -> ${p.upstream} (${[p.mode, ...tls].join(', ')}${p.enabled ? '' : ', down'})`,
    );
    for (const t of p.toxics) lines.push(`    ${describeToxic(t, p.mode)}`);
  }
  lines.push('Ctrl-C to stop');
  return lines.join('\n') + '\n';
}

/** One line per proxy: connections, requests, and what each toxic hit. */
export function renderCounts(stats: ProxyStats[]): string {
  return (
    stats
      .map((s) => {
        const head =
          `${s.name}: ${formatCount(s.connectionsTotal)} connections (${formatCount(s.connectionsActive)} open)` +
          (s.mode === 'http' ? `, ${formatCount(s.requestsTotal)} requests` : '') +
          (s.upstreamFailures > 0 ? `, ${formatCount(s.upstreamFailures)} upstream failures` : '') +
          (s.tlsHandshakeFailures > 0 ? `, ${formatCount(s.tlsHandshakeFailures)} failed TLS handshakes` : '') +
          (s.connectionsRejected > 0
            ? `, ${formatCount(s.connectionsRejected)} refused at max_connections ${formatCount(s.maxConnections)}`
            : '');
        const toxics = s.toxics.map(
          (t) =>
            `${t.name}: ${formatCount(s.mode === 'http' ? t.requestsAffected : t.connectionsAffected)} ${s.mode === 'http' ? 'requests' : 'connections'}`,
        );
        return [head, ...toxics].join('; ');
      })
      .join('\n') + (stats.length > 0 ? '\n' : '')
  );
}
