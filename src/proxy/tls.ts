// A proxy's TLS, both sides optional: the listen side terminated with a given certificate or a
// self-signed one made at creation, and the upstream dialled over TLS, verified against the system's
// CAs, a given CA file, or (only when asked by name) not at all. Files are read and checked once, at
// creation: a proxy whose certificate cannot be used is refused whole.

import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { CertificateError, checkedSecureContext, readPem, type PemPair } from '../http/certificate.ts';
import { selfSignedCertificate } from '../http/self-signed.ts';
import { ApiError, badRequestBody } from './api-error.ts';
import { booleanField, isObject, jsonType, stringField } from './json.ts';

/** `listen_tls` as the API takes and shows it: files, or a self-signed certificate (`{}` too). */
export interface ListenTlsJson {
  cert_file?: string;
  key_file?: string;
  self_signed?: boolean;
  /** Shown for a self-signed certificate, so that a client can trust it (curl --cacert). */
  certificate?: string;
}

/** `upstream_tls`: verified against the system's CAs unless ca_file or insecure say otherwise. */
export interface UpstreamTlsJson {
  ca_file?: string;
  /** Skip verification of the upstream's certificate. */
  insecure?: boolean;
  /** SNI and the name checked (default: the upstream's host, unless it is an address). */
  server_name?: string;
}

export interface ListenTls {
  json: ListenTlsJson;
  /** Checked: a context was built from it. */
  pem: PemPair;
}

export interface UpstreamTls {
  json: UpstreamTlsJson;
  /** What tls.connect takes, host and port aside. */
  options: ConnectionOptions;
}

function tlsObject(v: unknown, field: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw badRequestBody(`${field} must be an object, not ${jsonType(v)}`);
  return v;
}

/** The shape of `listen_tls`, checked before anything is read or made. */
export function parseListenTls(v: unknown): ListenTlsJson | undefined {
  const o = tlsObject(v, 'listen_tls');
  if (!o) return undefined;
  const certFile = stringField(o, 'listen_tls', 'cert_file', undefined);
  const keyFile = stringField(o, 'listen_tls', 'key_file', undefined);
  const selfSigned = booleanField(o, 'listen_tls', 'self_signed', undefined);
  if ((certFile === undefined) !== (keyFile === undefined))
    throw badRequestBody('listen_tls.cert_file and listen_tls.key_file go together: give both');
  if (certFile !== undefined && selfSigned)
    throw badRequestBody('listen_tls: give cert_file and key_file, or self_signed, not both');
  if (certFile === '' || keyFile === '')
    throw badRequestBody(`listen_tls.${certFile === '' ? 'cert_file' : 'key_file'} is empty`);
  if (certFile === undefined && selfSigned === false)
    throw badRequestBody(
      'listen_tls: give cert_file and key_file, or self_signed (or {} for a self-signed certificate); leave listen_tls out for none',
    );
  return certFile !== undefined ? { cert_file: certFile, key_file: keyFile } : { self_signed: true };
}

export function parseUpstreamTls(v: unknown): UpstreamTlsJson | undefined {
  const o = tlsObject(v, 'upstream_tls');
  if (!o) return undefined;
  const caFile = stringField(o, 'upstream_tls', 'ca_file', undefined);
  const insecure = booleanField(o, 'upstream_tls', 'insecure', undefined);
  const serverName = stringField(o, 'upstream_tls', 'server_name', undefined);
  if (caFile !== undefined && insecure) throw badRequestBody('upstream_tls: give ca_file or insecure, not both');
  if (caFile === '') throw badRequestBody('upstream_tls.ca_file is empty');
  const out: UpstreamTlsJson = {};
  if (caFile !== undefined) out.ca_file = caFile;
  if (insecure !== undefined) out.insecure = insecure;
  if (serverName) out.server_name = serverName;
  return out;
}

/** A certificate that cannot be read or used, as the API's 400. */
function refused(err: unknown): never {
  if (err instanceof CertificateError) throw new ApiError(err.message, 400);
  throw err;
}

/** Read and check the certificate (or make one); ApiError 400 naming the field when it cannot be used. */
export async function loadListenTls(json: ListenTlsJson, proxyName: string, listenHost: string): Promise<ListenTls> {
  const whose = `proxy ${proxyName}`;
  try {
    if (json.self_signed) {
      const altNames = ['localhost', '127.0.0.1', '::1'];
      if (listenHost && !altNames.includes(listenHost) && listenHost !== '0.0.0.0' && listenHost !== '::')
        altNames.push(listenHost);
      const pair = await selfSignedCertificate({ altNames });
      checkedSecureContext(pair, {}, `the self-signed certificate of ${whose}`);
      return { json: { self_signed: true, certificate: pair.cert }, pem: pair };
    }
    const [cert, key] = await Promise.all([
      readPem(json.cert_file!, 'listen_tls.cert_file', whose),
      readPem(json.key_file!, 'listen_tls.key_file', whose),
    ]);
    checkedSecureContext({ cert, key }, {}, `listen_tls of ${whose} (${json.cert_file}, ${json.key_file})`);
    return { json, pem: { cert, key } };
  } catch (err) {
    refused(err);
  }
}

export async function loadUpstreamTls(
  json: UpstreamTlsJson,
  proxyName: string,
  upstreamHost: string | undefined,
): Promise<UpstreamTls> {
  const options: ConnectionOptions = { rejectUnauthorized: json.insecure !== true };
  // SNI carries a host name, never an address (RFC 6066 3); the name checked is the same one.
  const name = json.server_name ?? (upstreamHost && isIP(upstreamHost) === 0 ? upstreamHost : undefined);
  if (name !== undefined) options.servername = name;
  if (json.ca_file !== undefined) {
    const ca = await readPem(json.ca_file, 'upstream_tls.ca_file', `proxy ${proxyName}`).catch(refused);
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new ApiError(`upstream_tls.ca_file ${json.ca_file} of proxy ${proxyName} holds no PEM certificate`, 400);
    options.ca = ca;
  }
  return { json, options };
}
