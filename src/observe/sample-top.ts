// Top-N lists with an "other" remainder, and peer-address keys that are cheap per row and formatted only for the top.

import { endianness } from 'node:os';
import { addressBytes, formatAddress, remoteHex, remoteKeyV4, type TcpRow } from '../kernel/proc-net-tcp.ts';

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
export function topOfMap<K, D extends string | number>(counts: Map<K, number>, n: number, display: (key: K) => D): TopList<D> {
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
const V4_MAPPED_PREFIX = `0000000000000000${LITTLE_ENDIAN ? 'FFFF0000' : '0000FFFF'}`;

/**
 * A key for the remote address of a row (its port left out): a number for IPv4, the kernel's hex
 * for IPv6. An IPv4-mapped IPv6 peer gets its IPv4 key, so a peer reached over both tables counts once.
 */
export function peerKey(row: TcpRow): number | string {
  const v4 = remoteKeyV4(row);
  if (v4 >= 0) return Math.floor(v4 / 65536);
  const hex = row.addressHex ? remoteHex(row) : procHex(row.buf, row.remoteAt);
  if (hex.startsWith(V4_MAPPED_PREFIX)) return Number.parseInt(hex.slice(24), 16);
  return hex;
}

const HEX = '0123456789ABCDEF';

/** 16 address bytes (netlink's, in network order) as /proc/net/tcp6 prints them: four words, each in host order. */
function procHex(b: Uint8Array, at: number): string {
  let text = '';
  for (let w = 0; w < 16; w += 4) {
    for (let k = 0; k < 4; k++) {
      const x = b[at + w + (LITTLE_ENDIAN ? 3 - k : k)]!;
      text += HEX[x >> 4]! + HEX[x & 15]!;
    }
  }
  return text;
}

/** The address text of a peerKey: dotted IPv4 or RFC 5952 IPv6, as everywhere else in tcplens. */
export function formatPeerKey(key: number | string): string {
  const hex = typeof key === 'number' ? key.toString(16).toUpperCase().padStart(8, '0') : key;
  return formatAddress(addressBytes(Buffer.from(hex, 'latin1'), 0, typeof key === 'number' ? 'ipv4' : 'ipv6'));
}
