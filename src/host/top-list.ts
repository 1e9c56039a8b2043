// Top-N lists with an "other" remainder, and peer-address keys that are cheap per row and formatted only for the top.

import { endianness } from 'node:os';
import { formatAddress, remoteHex, remoteKeyV4, rowAddressBytes, type TcpRow } from '../kernel/socket-row.ts';

/**
 * The biggest `top` entries of a count, biggest first, and what is left: the top's counts plus
 * `other` always equal `total`, so a sum over the list (e.g. in PromQL) still adds up.
 */
export interface TopList<K extends string | number> {
  top: Array<{ key: K; count: number }>;
  other: number;
  total: number;
}

// Sort biggest count first, ties by key, so the same host gives the same list.
function byCountThenKey<K extends string | number>(a: { key: K; count: number }, b: { key: K; count: number }): number {
  return b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Top-N of a per-port count array (index = port). Ports with a count of 0 are left out, and with
 * `only`, ports where it is 0. One pass with a small sorted list: 45,000 client ports with a count
 * of 1 each make no objects and no sort.
 */
export function topPorts(counts: Uint32Array, n: number, only?: Uint8Array): TopList<number> {
  const top: Array<{ key: number; count: number }> = [];
  let total = 0;
  for (let port = 0; port < counts.length; port++) {
    const c = counts[port]!;
    if (c === 0 || (only !== undefined && only[port] === 0)) continue;
    total += c;
    // Ports come in ascending order, so a tie keeps the earlier (lower) port ahead: a newcomer
    // needs a strictly bigger count than the last kept one.
    if (top.length === n && c <= top[n - 1]!.count) continue;
    let i = top.length === n ? n - 1 : top.length;
    while (i > 0 && top[i - 1]!.count < c) i--;
    top.splice(i, 0, { key: port, count: c });
    if (top.length > n) top.pop();
  }
  return { top, other: total - top.reduce((s, e) => s + e.count, 0), total };
}

/** Top-N of a map of counts, keys converted for display only for the entries kept. */
export function topOfMap<K, D extends string | number>(
  counts: Map<K, number>,
  n: number,
  display: (key: K) => D,
): TopList<D> {
  const entries: Array<{ key: K; count: number }> = [];
  let total = 0;
  for (const [key, count] of counts) {
    if (count === 0) continue;
    total += count;
    entries.push({ key, count });
  }
  // Sort on raw keys (numbers or hex text) so that no address is formatted that is not shown.
  entries.sort((a, b) => b.count - a.count || ((a.key as never) < (b.key as never) ? -1 : 1));
  const kept = entries.slice(0, n);
  // Two raw keys can format alike (rare: an address seen in both tables); merge them.
  const merged = new Map<D, number>();
  for (const e of kept) {
    const d = display(e.key);
    merged.set(d, (merged.get(d) ?? 0) + e.count);
  }
  const top = [...merged].map(([key, count]) => ({ key, count })).sort(byCountThenKey);
  return { top, other: total - top.reduce((s, e) => s + e.count, 0), total };
}

// ---- peer keys ----------------------------------------------------------------------------

const LITTLE_ENDIAN = endianness() === 'LE';
// The first three words of ::ffff:a.b.c.d as /proc/net/tcp6 prints them (each word in host order).
const V4_MAPPED_PROC = `0000000000000000${LITTLE_ENDIAN ? 'FFFF0000' : '0000FFFF'}`;
// The same in network order, as netlink gives the bytes.
const V4_MAPPED_NET = '00000000000000000000ffff';

/** A 32-bit word as printed in /proc (host order) turned into network order. */
function netOrder(hostWord: number): number {
  if (!LITTLE_ENDIAN) return hostWord;
  return (
    (((hostWord & 255) << 24) |
      (((hostWord >>> 8) & 255) << 16) |
      (((hostWord >>> 16) & 255) << 8) |
      (hostWord >>> 24)) >>>
    0
  );
}

/**
 * A key for the remote address of a row (its port left out), the same whichever reader filled the
 * row: the IPv4 address as a number in network order, or an IPv6 address as lower-case hex in
 * network order. An IPv4-mapped IPv6 peer gets its IPv4 key, so a peer reached over both tables
 * counts once.
 */
export function peerKey(row: TcpRow): number | string {
  const v4 = remoteKeyV4(row);
  if (v4 >= 0) {
    const word = Math.floor(v4 / 65536);
    return row.addressHex ? netOrder(word) : word;
  }
  if (!row.addressHex) {
    const hex = remoteHex(row);
    return hex.startsWith(V4_MAPPED_NET) ? Number.parseInt(hex.slice(24), 16) : hex;
  }
  const text = remoteHex(row);
  if (text.startsWith(V4_MAPPED_PROC)) return netOrder(Number.parseInt(text.slice(24), 16));
  return Buffer.from(rowAddressBytes(row, row.remoteAt)).toString('hex');
}

/** The address text of a peerKey: dotted IPv4 or RFC 5952 IPv6, as everywhere else in tcplens. */
export function formatPeerKey(key: number | string): string {
  if (typeof key === 'number') return `${key >>> 24}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
  return formatAddress(Buffer.from(key, 'hex'));
}
