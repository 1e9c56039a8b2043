// A certificate and its key as every TLS endpoint of ours takes them (serve's https, the proxy's TLS
// listen side): PEM read from files, and checked by building the context a handshake would use.

import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { UsageError } from '../errors.ts';

/** A certificate or key that cannot be read or used; at start it is the user's input that is wrong. */
export class CertificateError extends UsageError {
  /** The SNI host name it is for, or undefined for a default certificate. */
  readonly host: string | undefined;
  constructor(message: string, host: string | undefined) {
    super(message);
    this.host = host;
  }
}

export interface PemPair {
  cert: string | Buffer;
  key: string | Buffer;
}

/** One PEM file's text; `what` names it in the error ("certificate file"), `whose` says what it is for. */
export async function readPem(path: string, what: string, whose: string, host?: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CertificateError(`cannot read ${what} ${path} for ${whose}: ${reason}`, host);
  }
}

/**
 * The context a handshake would use, built once to check the pair: OpenSSL rejects unparsable PEM
 * and a key that is not the certificate's. `whose` starts the message ("the default certificate").
 */
export function checkedSecureContext(
  pair: PemPair,
  base: SecureContextOptions,
  whose: string,
  host?: string,
): { context: SecureContext; cert: X509Certificate } {
  // createSecureContext skips an empty cert or key without a word, and a context with a certificate
  // but no key fails every handshake (alert 40): what a reload sees while a writer has truncated the
  // key file and not yet written it.
  for (const [what, pem] of [
    ['certificate', pair.cert],
    ['key', pair.key],
  ] as const) {
    if (String(pem).trim() === '') throw new CertificateError(`${whose} cannot be used: the ${what} is empty`, host);
  }
  try {
    const context = createSecureContext({ ...base, cert: pair.cert, key: pair.key });
    return { context, cert: new X509Certificate(pair.cert) };
  } catch (err) {
    throw new CertificateError(`${whose} cannot be used: ${(err as Error).message}`, host);
  }
}
