// Lab script for E3: a burst of connections opened at once, each trying exactly once to connect and have
// one GET answered, both within timeoutMs of the burst's start. A load generator retries a failed
// connect; here that would be one more SYN in the very queue being measured, so this client never does.
//
// argv[2]: {"host","port","count","timeoutMs"}
// prints {"connectMs":[…],"notConnected","served","errors":{CODE:N},"requestMs":[…]} (connectMs: one per
// connection that connected, from connect() to the kernel's handshake; requestMs: one per answered request)

import { connect } from 'node:net';

interface Config {
  host: string;
  port: number;
  count: number;
  timeoutMs: number;
}

export interface BurstResult {
  connectMs: number[];
  notConnected: number;
  served: number;
  /** Connections that connected but got no answer, by why: timeout, ECONNRESET, a status other than 200… */
  errors: Record<string, number>;
  requestMs: number[];
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const result: BurstResult = { connectMs: [], notConnected: 0, served: 0, errors: {}, requestMs: [] };
const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\nConnection: close\r\n\r\n`);
const fail = (code: string) => (result.errors[code] = (result.errors[code] ?? 0) + 1);

function one(): Promise<void> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    let sentAt = 0;
    let answer = '';
    let settled = false;
    const s = connect({ host: cfg.host, port: cfg.port });
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      s.destroy();
      resolve();
    };
    // One deadline for both: "answered within timeoutMs" counts from the burst, as its client would.
    const timer = setTimeout(() => finish(() => (sentAt ? fail('timeout') : result.notConnected++)), cfg.timeoutMs);
    s.setEncoding('latin1');
    s.on('connect', () => {
      sentAt = performance.now();
      result.connectMs.push(sentAt - startedAt);
      s.write(request);
    });
    s.on('data', (d: string) => (answer += d));
    s.on('end', () =>
      finish(() => {
        if (/^HTTP\/1\.[01] 200 /.test(answer)) {
          result.served++;
          result.requestMs.push(performance.now() - sentAt);
        } else fail(answer ? `status ${answer.slice(9, 12)}` : 'closed without an answer');
      }),
    );
    s.on('error', (err: NodeJS.ErrnoException) =>
      finish(() => (sentAt ? fail(err.code ?? 'error') : result.notConnected++)),
    );
  });
}

await Promise.all(Array.from({ length: cfg.count }, one));
process.stdout.write(JSON.stringify(result) + '\n');
