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

/** One connection as `ss -tinmHO` prints it: its endpoints and every `key:value` of its info. */
export interface SsInfo {
  local: string;
  peer: string;
  /** The Send-Q column: bytes not yet acknowledged or not yet sent. */
  sendQ: number;
  /** Numbers by ss's names; rtt and retrans split into rtt/rttvar and retrans/retrans_total. */
  fields: Map<string, number>;
  congestion?: string;
}

const CONGESTION = new Set([
  'reno',
  'cubic',
  'bbr',
  'bbr2',
  'bic',
  'htcp',
  'vegas',
  'westwood',
  'dctcp',
  'highspeed',
  'hybla',
  'illinois',
  'lp',
  'nv',
  'scalable',
  'veno',
  'yeah',
  'cdg',
]);

/** Parse `ss -tinmHO` (one line per socket, numeric): the oracle for tcplens sockets -i -m. */
export function parseSsInfo(text: string): SsInfo[] {
  const out: SsInfo[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    // With a single state asked for (state established), ss leaves the State column out.
    const at = /^\d+$/.test(t[0] ?? '') ? 0 : 1;
    if (t.length < at + 4) continue;
    const fields = new Map<string, number>();
    let congestion: string | undefined;
    for (let i = at + 4; i < t.length; i++) {
      const tok = t[i]!;
      if (CONGESTION.has(tok)) congestion = tok;
      else if (tok === 'delivery_rate' || tok === 'pacing_rate' || tok === 'send') {
        fields.set(tok, Number(t[++i]!.replace(/bps$/, '').split('/')[0]));
      } else if (tok.startsWith('skmem:(')) {
        for (const part of tok.slice(7, -1).split(',')) {
          const m = /^([a-z]+)(\d+)$/.exec(part);
          if (m) fields.set(`skmem_${m[1]}`, Number(m[2]));
        }
      } else {
        const m = /^([a-z_]+):([\d.]+)(?:ms)?(?:\/([\d.]+))?(?:\([\d.]+%\))?$/.exec(tok);
        if (!m) continue;
        const second = m[1] === 'rtt' ? 'rttvar' : m[1] === 'retrans' ? 'retrans_total' : undefined;
        fields.set(m[1]!, Number(m[2]));
        if (second && m[3] !== undefined) fields.set(second, Number(m[3]));
      }
    }
    out.push({
      local: normalizeEndpoint(t[at + 2]!),
      peer: normalizeEndpoint(t[at + 3]!),
      sendQ: Number(t[at + 1]),
      fields,
      congestion,
    });
  }
  return out;
}

export function ssInfo(filter: string[] = []): SsInfo[] {
  return parseSsInfo(execFileSync('ss', ['-tinmHO', ...filter], { encoding: 'utf8', maxBuffer: 256 << 20 }));
}
