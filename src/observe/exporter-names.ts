// How a kernel counter or sysctl becomes a Prometheus metric: its name in snake case, its type, its HELP.

import { counterKind as levelOrCount } from '../analyze/counter-delta.ts';
import { meaningOf } from '../analyze/counter-meanings.ts';

export const PREFIX = 'tcplens_';

/**
 * The snmp/netstat sections exported: TCP's own and the IP/UDP layers under HTTP traffic. Icmp,
 * IcmpMsg, UdpLite and MPTcpExt are left out (mostly zeros on an HTTP host); a section's new
 * fields on a newer kernel are exported without a change here.
 */
export const EXPORTED_SECTIONS: Record<string, 'snmp' | 'netstat'> = {
  Tcp: 'snmp',
  TcpExt: 'netstat',
  Ip: 'snmp',
  IpExt: 'netstat',
  Udp: 'snmp',
};

/** sockstat lines exported: all their fields are levels, so gauges. */
export const EXPORTED_SOCKSTAT = new Set(['sockets', 'TCP', 'TCP6']);

/**
 * The kernel's CamelCase in snake case: ListenOverflows → listen_overflows, TCPReqQFullDoCookies →
 * tcp_req_q_full_do_cookies, TWRecycled → tw_recycled. A leading TCP is a word of its own even
 * when an acronym follows (TCPSACKReneging → tcp_sack_reneging, TCPMD5NotFound → tcp_md5_not_found),
 * and an acronym's plural stays one word (DelayedACKs → delayed_acks, ReasmOKs → reasm_oks).
 */
export function snakeCase(name: string): string {
  return name
    .replace(/([A-Z])([A-Z]+)s(?=[A-Z]|$)/g, (_m, a: string, rest: string) => `${a}${rest.toLowerCase()}s`)
    .replace(/^TCP(?=[A-Z])/, 'TCP_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .replace(/_+/g, '_')
    .toLowerCase();
}

/** Whether a "Section.Field" counter is exported, and if so as what. */
export function counterKind(key: string): 'counter' | 'gauge' | undefined {
  const dot = key.indexOf('.');
  const section = key.slice(0, dot);
  if (section === 'sockstat') {
    const line = key.slice(dot + 1, key.indexOf('.', dot + 1));
    return EXPORTED_SOCKSTAT.has(line) ? 'gauge' : undefined;
  }
  if (!(section in EXPORTED_SECTIONS)) return undefined;
  // Levels and constants (CurrEstab falls, MaxConn is -1) are gauges: a counter type would make rate() lie.
  return levelOrCount(section, key.slice(dot + 1));
}

/**
 * Metric name of an exported counter key: TcpExt.ListenOverflows → tcplens_tcpext_listen_overflows_total,
 * Tcp.CurrEstab → tcplens_tcp_curr_estab, sockstat.TCP.tw → tcplens_sockstat_tcp_tw.
 */
export function counterMetricName(key: string, kind: 'counter' | 'gauge'): string {
  const parts = key.split('.');
  const field = parts.pop()!;
  const section = parts.map((p) => p.toLowerCase()).join('_');
  return `${PREFIX}${section}_${snakeCase(field)}${kind === 'counter' ? '_total' : ''}`;
}

/** HELP text: our meaning where the catalog has one, and always where the number comes from. */
export function counterHelp(key: string): string {
  const parts = key.split('.');
  const field = parts.pop()!;
  const section = parts.join('.');
  const source =
    parts[0] === 'sockstat'
      ? `/proc/net/sockstat${parts[1]?.endsWith('6') ? '6' : ''} ${parts[1]} ${field}`
      : `/proc/net/${EXPORTED_SECTIONS[section] ?? 'snmp'} ${section} ${field}`;
  const meaning = meaningOf(section, field)?.meaning;
  return meaning ? `${meaning} (${source})` : `Kernel counter ${source}.`;
}

/** net.ipv4.tcp_fin_timeout → tcplens_sysctl_net_ipv4_tcp_fin_timeout; fs.file-max → tcplens_sysctl_fs_file_max. */
export function sysctlMetricName(name: string): string {
  return `${PREFIX}sysctl_${name.replace(/[^A-Za-z0-9]/g, '_').toLowerCase()}`;
}
