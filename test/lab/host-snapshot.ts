// What a lab run must leave as it found it on the host: every net.* sysctl and the list of network
// namespaces. Used by the lab tests before and after a run (also one killed halfway).

import { execFileSync } from 'node:child_process';

// Entries that change on their own, whatever we do:
// - net.netfilter.nf_conntrack_count counts the host's tracked connections (any traffic moves it).
const VOLATILE = new Set(['net.netfilter.nf_conntrack_count']);
// Per-interface entries (net.ipv4.conf.IF.*, net.ipv6.neigh.IF.*, …): other helpers' tests may add and
// remove their own links on the host while ours run; a link that appears is ignored unless it is ours.
const PER_IF = /^net\.(?:ipv4|ipv6)\.(?:conf|neigh)\.([^.]+)\./;

export interface HostSnapshot {
  sysctls: Map<string, string>;
  namespaces: string[];
}

export function snapshotHost(): HostSnapshot {
  const text = execFileSync('sysctl', ['-a', '--pattern', '^net\\.'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 1 << 24,
  });
  const sysctls = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(' = ');
    if (at > 0 && !VOLATILE.has(line.slice(0, at))) sysctls.set(line.slice(0, at), line.slice(at + 3));
  }
  // stderr ignored: ip complains ("Peer netns reference is invalid") of namespaces others delete meanwhile.
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean)
    .sort();
  return { sysctls, namespaces };
}

/** Differences in sysctls, as "key: before -> after" lines (new links of others ignored, see above). */
export function sysctlChanges(before: HostSnapshot, after: HostSnapshot): string[] {
  const ifaces = new Set<string>();
  for (const k of before.sysctls.keys()) {
    const m = PER_IF.exec(k);
    if (m) ifaces.add(m[1]!);
  }
  const changes: string[] = [];
  for (const [k, v] of before.sysctls)
    if (after.sysctls.get(k) !== v) changes.push(`${k}: ${v} -> ${after.sysctls.get(k) ?? '(gone)'}`);
  for (const [k, v] of after.sysctls) {
    if (before.sysctls.has(k)) continue;
    const m = PER_IF.exec(k);
    if (m && !ifaces.has(m[1]!) && !m[1]!.startsWith('lab-')) continue;
    changes.push(`${k}: (new) -> ${v}`);
  }
  return changes;
}

/** Lab namespaces (tcplens-lab-<pid>-…) of one process. */
export function labNamespacesOf(pid: number, s: HostSnapshot = snapshotHost()): string[] {
  return s.namespaces.filter((n) => n.startsWith(`tcplens-lab-${pid}-`));
}
