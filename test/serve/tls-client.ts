// Loopback TLS clients and certificate files for the TLS server tests: what a client sees, nothing more.

import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { request, type Agent } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:https';
import type { CertificatePair } from '../../src/http/self-signed.ts';

export async function listen(server: Server): Promise<number> {
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Closes the server and every connection it still has. */
export async function shut(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise((r) => server.close(r));
  server.closeAllConnections();
  await closed;
}

export interface CertDir {
  dir: string;
  certFile: string;
  keyFile: string;
  /** Writes the certificate, then the key: the order a person or a renewal script would. */
  write(pair: { cert: string; key: string }): Promise<void>;
  remove(): Promise<void>;
}

export async function certDir(pair: CertificatePair): Promise<CertDir> {
  const dir = await mkdtemp(join(tmpdir(), 'tcplens-tls-'));
  const d: CertDir = {
    dir,
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    write: async (p) => {
      await writeFile(d.certFile, p.cert);
      await writeFile(d.keyFile, p.key);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  await d.write(pair);
  return d;
}

/**
 * One TLS handshake; resolves with the connected socket. End it with end(), not destroy(): in TLS 1.3
 * the client is done before its Finished has left, and a destroy() here makes the server see a reset
 * instead of a handshake.
 */
export async function handshake(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  return socket;
}

/** The CN of the certificate the server presents for this connection. */
export async function peerCommonName(port: number, options: ConnectionOptions = {}): Promise<string> {
  const socket = await handshake(port, options);
  try {
    return String(socket.getPeerCertificate().subject.CN);
  } finally {
    socket.end();
  }
}

/** A TLS session the server handed out (TLS 1.3 sends its tickets just after the handshake). */
export async function sessionOf(port: number, options: ConnectionOptions = {}): Promise<Buffer> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  socket.on('error', () => {});
  try {
    const [session] = (await once(socket, 'session')) as [Buffer];
    return session;
  } finally {
    socket.end();
  }
}

export interface Answer {
  status: number;
  body: string;
  /** CN of the certificate on the connection that carried the request. */
  peerCN: string;
  reusedSocket: boolean;
}

export function get(
  port: number,
  options: { agent?: Agent | false; ca?: string[]; path?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        agent: options.agent,
        ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
      },
      (res) => {
        // Read now: a connection that is not kept alive may be gone by 'end'.
        const peerCN = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN);
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body, peerCN, reusedSocket: req.reusedSocket });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
