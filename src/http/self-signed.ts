// A throwaway self-signed server certificate made at run time (no openssl binary), for `serve --tls` and `proxy --tls`.

import { isIP } from 'node:net';
import { generate } from 'selfsigned';
import { UsageError } from '../errors.ts';

export interface SelfSignedOptions {
  /** Subject CN. */
  commonName?: string;
  /** Subject alternative names; IP literals become IP SANs, everything else DNS SANs. */
  altNames?: string[];
  /** Validity from now (minus a minute of clock-skew slack). */
  days?: number;
  /** EC P-256 (the default) takes milliseconds to make; RSA 2048 is for clients that lack ECDSA. */
  keyType?: 'ec' | 'rsa';
}

export interface CertificatePair {
  /** PEM. */
  cert: string;
  /** PEM, PKCS#8, unencrypted. */
  key: string;
}

/** Clients on another host with a clock a little behind would otherwise reject a fresh certificate. */
const SKEW_MS = 60_000;

export async function selfSignedCertificate(options: SelfSignedOptions = {}): Promise<CertificatePair> {
  const { commonName = 'localhost', altNames = ['localhost', '127.0.0.1', '::1'], days = 7, keyType = 'ec' } = options;
  if (!(days > 0)) throw new UsageError(`certificate validity must be a positive number of days, got ${days}`);
  if (!commonName) throw new UsageError('certificate common name must not be empty');
  const notBeforeDate = new Date(Date.now() - SKEW_MS);
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      // keyEncipherment is an RSA key-exchange usage; an EC key only signs.
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: altNames.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
