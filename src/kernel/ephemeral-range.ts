// The ephemeral port range a connect() draws from: ip_local_port_range minus ip_local_reserved_ports.

import { readFileSync } from 'node:fs';
import { describeFsError } from '../errors.ts';
import { procRootDir } from './proc-root.ts';
import { parsePortList, parsePortRange, sysctlPath } from './sysctl.ts';

export interface EphemeralRange {
  low: number;
  high: number;
  /** Ports inside [low, high] that ip_local_reserved_ports takes out. */
  reservedInRange: number;
  /** Ports a connect() can really pick: high - low + 1 - reservedInRange. */
  usable: number;
  /** reserved[port] === 1 for each reserved port (all 65536 ports). */
  reserved: Uint8Array;
}

/** From the two knobs' texts ("32768\t60999", "8080,9000-9010"). Pure. */
export function ephemeralRange(rangeText: string, reservedText: string): EphemeralRange {
  const { low, high } = parsePortRange(rangeText, 'net.ipv4.ip_local_port_range');
  const reserved = new Uint8Array(65536);
  for (const r of parsePortList(reservedText, 'net.ipv4.ip_local_reserved_ports')) reserved.fill(1, r.low, r.high + 1);
  let reservedInRange = 0;
  for (let port = low; port <= high; port++) reservedInRange += reserved[port]!;
  return { low, high, reservedInRange, usable: Math.max(0, high - low + 1 - reservedInRange), reserved };
}

export function readEphemeralRange(procRoot = procRootDir()): EphemeralRange {
  const read = (name: string, optional: boolean) => {
    const path = sysctlPath(name, procRoot);
    try {
      return readFileSync(path, 'latin1');
    } catch (err) {
      if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw describeFsError(err, path);
    }
  };
  return ephemeralRange(read('net.ipv4.ip_local_port_range', false), read('net.ipv4.ip_local_reserved_ports', true));
}
