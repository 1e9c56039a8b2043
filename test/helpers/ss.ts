// An independent reading of `ss -tan`, the oracle the socket tests compare tcplens against.

import { execFileSync } from 'node:child_process';

export interface SsSocket {
  state: string; // the kernel's name, mapped from ss's spelling
  recvQ: number;
  sendQ: number;
  local: string; // "addr:port" with IPv4-mapped IPv6 shown as IPv4, no brackets
  peer: string;
}

const STATE: Record<string, string> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  UNCONN: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

export function normalizeEndpoint(text: string): string {
  const i = text.lastIndexOf(':');
  let host = text.slice(0, i);
  let port = text.slice(i + 1);
  if (host.startsWith('[')) host = host.slice(1, -1);
  host = host.replace(/%.*$/, '');
  if (host.startsWith('::ffff:') && host.includes('.')) host = host.slice(7);
  if (host === '*') host = '0.0.0.0';
  if (port === '*') port = '0';
  return `${host}:${port}`;
}

export function ssSockets(): SsSocket[] {
  const out = execFileSync('ss', ['-tanH'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.trim().split(/\s+/);
      return {
        state: STATE[f[0]!] ?? f[0]!,
        recvQ: Number(f[1]),
        sendQ: Number(f[2]),
        local: normalizeEndpoint(f[3]!),
        peer: normalizeEndpoint(f[4]!),
      };
    });
}

export function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
