// E8's client: https requests three ways against one server — a new connection and a full TLS
// handshake for each, a new connection that resumes the previous session (its ticket), and one
// keep-alive connection per lane. Rate, handshake time, and whether the server really resumed.
// Prints one JSON line.
//
// argv[2]: {"url","lanes","durationMs"}

import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { percentileOfSorted } from '../../text/percentile.ts';

interface Config {
  url: string;
  /** Concurrent clients. */
  lanes: number;
  /** Per mode. */
  durationMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const target = new URL(config.url);
const host = target.hostname;
const port = Number(target.port);
const REQUEST_CLOSE = Buffer.from('GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n');
const REQUEST_KEEP = Buffer.from('GET / HTTP/1.1\r\nHost: lab\r\n\r\n');

const round = (x: number) => Math.round(x * 100) / 100;

interface Conn {
  socket: TLSSocket;
  tcpMs: number;
  handshakeMs: number;
  resumed: boolean;
  protocol: string;
}

/** A TLS connection, timed: TCP connect, then the handshake. */
function open(session: Buffer | undefined, onSession: (s: Buffer) => void): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let tcpAt = 0;
    // A self-signed test server: the certificate is not checked, the handshake's cost is the same.
    const o: ConnectionOptions = {
      host,
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(session ? { session } : {}),
    };
    const socket = connect(o);
    socket.once('connect', () => (tcpAt = performance.now()));
    // TLS 1.3 sends its tickets after the handshake: the newest is the one to resume with.
    socket.on('session', onSession);
    socket.once('secureConnect', () => {
      const now = performance.now();
      resolve({
        socket,
        tcpMs: tcpAt - t0,
        handshakeMs: now - tcpAt,
        resumed: socket.isSessionReused(),
        protocol: socket.getProtocol() ?? '?',
      });
    });
    socket.once('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
}

/** One request on an open connection; resolves when its response (Content-Length framed) is in. */
function exchange(socket: TLSSocket, request: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/^content-length:\s*(\d+)/im.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length - end - 4 < length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve();
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });
}

type Mode = 'full' | 'resumed' | 'keepalive';

/** One way of connecting, over the same time with the same number of clients. */
export interface TlsMode {
  mode: Mode;
  protocol: string;
  requests: number;
  perSecond: number;
  handshakes: number;
  /** Handshakes the server resumed (OpenSSL's isSessionReused on the client). */
  resumed: number;
  errors: number;
  /** From TCP connected to TLS done. */
  /** p10 is the handshake's own cost, least disturbed by the other work on the machine. */
  handshakeMs: { p10: number; p50: number; p99: number };
  tcpConnectMs: { p50: number };
}

/** What this script prints (E8 reads it): full, resumed, keepalive. */
export interface TlsResult {
  modes: [TlsMode, TlsMode, TlsMode];
}

async function run(mode: Mode): Promise<TlsMode> {
  const handshakes: number[] = [];
  const tcp: number[] = [];
  let requests = 0;
  let resumed = 0;
  let errors = 0;
  let protocol = '';
  const deadline = performance.now() + config.durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: config.lanes }, async () => {
      let session: Buffer | undefined;
      const remember = (s: Buffer) => (session = s);
      // A first connection gets the lane its ticket; it is not counted.
      if (mode === 'resumed') {
        const c = await open(undefined, remember);
        await exchange(c.socket, REQUEST_CLOSE);
        c.socket.destroy();
      }
      let kept: Conn | undefined;
      while (performance.now() < deadline) {
        try {
          if (mode === 'keepalive') {
            if (!kept) {
              kept = await open(undefined, remember);
              handshakes.push(kept.handshakeMs);
              tcp.push(kept.tcpMs);
              protocol = kept.protocol;
            }
            await exchange(kept.socket, REQUEST_KEEP);
          } else {
            const c = await open(mode === 'resumed' ? session : undefined, remember);
            handshakes.push(c.handshakeMs);
            tcp.push(c.tcpMs);
            protocol = c.protocol;
            if (c.resumed) resumed++;
            await exchange(c.socket, REQUEST_CLOSE);
            c.socket.destroy();
          }
          requests++;
        } catch {
          errors++;
          kept?.socket.destroy();
          kept = undefined;
        }
      }
      kept?.socket.destroy();
    }),
  );
  const elapsedMs = performance.now() - t0;
  handshakes.sort((a, b) => a - b);
  tcp.sort((a, b) => a - b);
  return {
    mode,
    protocol,
    requests,
    perSecond: Math.round((requests / elapsedMs) * 1000),
    handshakes: handshakes.length,
    resumed,
    errors,
    handshakeMs: {
      p10: round(percentileOfSorted(handshakes, 10)),
      p50: round(percentileOfSorted(handshakes, 50)),
      p99: round(percentileOfSorted(handshakes, 99)),
    },
    tcpConnectMs: { p50: round(percentileOfSorted(tcp, 50)) },
  };
}

// One after the other: each mode has the machine to itself.
const full = await run('full');
const resumed = await run('resumed');
const keepalive = await run('keepalive');
const result: TlsResult = { modes: [full, resumed, keepalive] };
process.stdout.write(JSON.stringify(result) + '\n');
