// The listening sockets of one /proc/<pid>/net/tcp{,6}, read only as far as they go.
//
// The kernel lists a table's listeners first (its listening hash), then every other socket (the
// established hash: connections, TIME_WAIT, requests). A host with 100,000 connections thus has a
// few dozen lines to read for its listeners, not the whole table: reading stops at the first line
// that is not LISTEN.

import { closeSync, openSync, readSync } from 'node:fs';

export interface ListenRow {
  port: number;
  inode: number;
}

const LISTEN_HEX = '0A';
const READ_BYTES = 16 * 1024;

/** The listening sockets at the head of a /proc/net/tcp-format file; [] when it cannot be read (IPv6 off, the process gone). */
export function readListenRows(path: string): ListenRow[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  const rows: ListenRow[] = [];
  const buf = Buffer.allocUnsafe(READ_BYTES);
  let pending = '';
  let header = true;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      const text = pending + buf.toString('latin1', 0, n);
      const lines = text.split('\n');
      pending = n === 0 ? '' : lines.pop()!;
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        const f = line.trim().split(/\s+/);
        if (f.length < 10) continue;
        if (f[3] !== LISTEN_HEX) return rows;
        const local = f[1]!;
        rows.push({ port: parseInt(local.slice(local.indexOf(':') + 1), 16), inode: Number(f[9]) });
      }
      if (n === 0) return rows;
    }
  } catch {
    return rows;
  } finally {
    closeSync(fd);
  }
}
