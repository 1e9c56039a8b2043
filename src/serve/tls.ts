// An https server whose certificates (the default one and one per SNI host name) reload from disk
// without dropping a connection; its handshakes are measured by tls-handshakes.ts.

import { createServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { RequestListener } from 'node:http';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { watch, type FSWatcher } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, resolve } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { UsageError } from '../errors.ts';
import { selfSignedCertificate, type SelfSignedOptions } from '../http/self-signed.ts';
import { CertificateError, checkedSecureContext, readPem } from '../http/certificate.ts';
import { measureHandshakes, reloadCountsOf, type TlsStats } from './tls-handshakes.ts';

export { CertificateError };

/** PEM text given inline: used as is, never reloaded. */
export interface CertificatePem {
  cert: string | Buffer;
  key: string | Buffer;
}

/** PEM files: read at start and again whenever something in their directories changes. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export type CertificateSource = CertificatePem | CertificateFiles;

export interface TlsServerOptions {
  certFile?: string;
  keyFile?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Make a self-signed certificate at start (see selfSignedCertificate). */
  selfSigned?: boolean | SelfSignedOptions;
  /** A certificate per host name the client asks for (exact, or `*.example.com` for one label). */
  sni?: Record<string, CertificateSource>;
  /** Everything else https.createServer takes (TLS versions, ciphers, keepAliveTimeout…); kept across reloads. */
  https?: ServerOptions;
  /** Quiet time after the last file event before reading: lets a writer put both files in place. Default 200. */
  reloadDebounceMs?: number;
  /** A certificate was replaced; new handshakes use it. */
  onReload?: (event: ReloadEvent) => void;
  /** A changed pair could not be used, read twice a quiet time apart, and the old one keeps serving. Default: a process warning. */
  onError?: (err: Error) => void;
}

export interface ReloadEvent {
  /** The SNI host name, or undefined for the default certificate. */
  host: string | undefined;
  certFile: string;
  subject: string;
  /** ISO time. */
  validTo: string;
  fingerprint256: string;
}

export interface ReloadResult {
  reloaded: ReloadEvent[];
  errors: CertificateError[];
}

export interface TlsServer {
  readonly server: HttpsServer;
  stats(): TlsStats;
  /** Re-read the certificate files now (what a file change does after the debounce; also for SIGHUP). */
  reload(): Promise<ReloadResult>;
  /**
   * Stop watching the files. Listening and closing stay the caller's (server.listen, gracefulShutdown);
   * closing the server stops the watchers too.
   */
  close(): void;
}

interface Pair {
  cert: string | Buffer;
  key: string | Buffer;
}

interface Slot {
  /** The SNI host name, or undefined for the default certificate. */
  host: string | undefined;
  /** Absolute paths; undefined for inline or self-signed pairs, which never reload. */
  files: CertificateFiles | undefined;
  /** What was last applied, so that directory events that changed nothing cost nothing. */
  loaded: Pair;
  /** What was last refused, so that unrelated events in the directory do not repeat the warning. */
  rejected?: Pair;
}

/** Reads of a refused pair, a quiet time apart, before it is refused for good: bounds a writer that never stops. */
const SETTLE_READS = 5;

const label = (host: string | undefined) =>
  host === undefined ? 'the default certificate' : `the certificate for ${host}`;

function isFiles(s: CertificateSource): s is CertificateFiles {
  return 'certFile' in s || 'keyFile' in s;
}

async function readPair(files: CertificateFiles, host: string | undefined): Promise<Pair> {
  const [cert, key] = await Promise.all([
    readPem(files.certFile, 'certificate file', label(host), host),
    readPem(files.keyFile, 'key file', label(host), host),
  ]);
  return { cert, key };
}

function checkedContext(
  pair: Pair,
  base: SecureContextOptions,
  slot: Pick<Slot, 'host' | 'files'>,
): { context: SecureContext; cert: X509Certificate } {
  const where = slot.files ? ` (${slot.files.certFile}, ${slot.files.keyFile})` : '';
  return checkedSecureContext(pair, base, `${label(slot.host)}${where}`, slot.host);
}

const samePair = (a: Pair, b: Pair) => String(a.cert) === String(b.cert) && String(a.key) === String(b.key);

function sourceOf(options: TlsServerOptions): CertificateSource | 'self-signed' {
  const hasFiles = options.certFile !== undefined || options.keyFile !== undefined;
  const hasInline = options.cert !== undefined || options.key !== undefined;
  const kinds = [hasFiles, hasInline, Boolean(options.selfSigned)].filter(Boolean).length;
  if (kinds !== 1) throw new UsageError('give exactly one of certFile+keyFile, cert+key or selfSigned');
  if (hasFiles) {
    if (!options.certFile || !options.keyFile) throw new UsageError('certFile and keyFile go together: give both');
    return { certFile: options.certFile, keyFile: options.keyFile };
  }
  if (hasInline) {
    if (!options.cert || !options.key) throw new UsageError('cert and key go together: give both');
    return { cert: options.cert, key: options.key };
  }
  return 'self-signed';
}

async function initialSlot(host: string | undefined, source: CertificateSource): Promise<Slot> {
  if (isFiles(source)) {
    if (!source.certFile || !source.keyFile)
      throw new UsageError(`${label(host)}: certFile and keyFile go together: give both`);
    const files = { certFile: resolve(source.certFile), keyFile: resolve(source.keyFile) };
    return { host, files, loaded: await readPair(files, host) };
  }
  return { host, files: undefined, loaded: { cert: source.cert, key: source.key } };
}

/** `*.example.com` stands for exactly one more label, as in certificate matching. */
function wildcardOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 ? `*${name.slice(dot)}` : undefined;
}

/** Looked up at each handshake, so a reloaded context is used from the next one on. */
function sniCallback(contexts: Map<string, SecureContext>) {
  return (name: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const lower = name.toLowerCase();
    const wildcard = wildcardOf(lower);
    // An unknown name (or none, as with IP literals) gets the default certificate.
    cb(null, contexts.get(lower) ?? (wildcard === undefined ? undefined : contexts.get(wildcard)));
  };
}

/**
 * An https server (not yet listening) whose certificates come from files that are watched and
 * reloaded, from inline PEM, or from a self-signed certificate made now. Handshakes are measured.
 */
export async function createTlsServer(options: TlsServerOptions, handler?: RequestListener): Promise<TlsServer> {
  const base: ServerOptions = options.https ?? {};
  if (options.sni && base.SNICallback) throw new UsageError('give either sni or https.SNICallback, not both');
  const debounceMs = options.reloadDebounceMs ?? 200;
  const onError = options.onError ?? ((err: Error) => process.emitWarning(err));

  const source = sourceOf(options);
  const selfSigned = typeof options.selfSigned === 'object' ? options.selfSigned : {};
  const main = await initialSlot(
    undefined,
    source === 'self-signed' ? await selfSignedCertificate(selfSigned) : source,
  );
  const sniSlots = await Promise.all(
    Object.entries(options.sni ?? {}).map(([host, s]) => initialSlot(host.toLowerCase(), s)),
  );
  checkedContext(main.loaded, base, main);
  const contexts = new Map<string, SecureContext>();
  for (const slot of sniSlots) contexts.set(slot.host!, checkedContext(slot.loaded, base, slot).context);

  const server = createServer(
    {
      ...base,
      cert: main.loaded.cert,
      key: main.loaded.key,
      ...(options.sni ? { SNICallback: sniCallback(contexts) } : {}),
    },
    handler,
  );
  const metrics = measureHandshakes(server);
  const counters = reloadCountsOf(server)!;

  const apply = (slot: Slot, pair: Pair): ReloadEvent => {
    // The server's ticket keys go along: without them a new context has fresh keys and every
    // client's ticket from before the reload would force a full handshake.
    const secure = { ...base, ticketKeys: server.getTicketKeys() };
    const { context, cert } = checkedContext(pair, secure, slot);
    // In-flight handshakes and open connections keep the context they started with.
    if (slot.host === undefined) server.setSecureContext({ ...secure, cert: pair.cert, key: pair.key });
    else contexts.set(slot.host, context);
    slot.loaded = pair;
    return {
      host: slot.host,
      certFile: slot.files?.certFile ?? '',
      subject: cert.subject,
      validTo: new Date(cert.validTo).toISOString(),
      fingerprint256: cert.fingerprint256,
    };
  };

  const watched = [main, ...sniSlots].filter((s) => s.files !== undefined);
  let closed = false;
  // One reload at a time: a file event during a reload queues another pass after it.
  let queue: Promise<unknown> = Promise.resolve();
  // A writer that puts the files in place one after the other can be caught halfway (a new
  // certificate with the old key, or a file truncated and not yet written): a refused pair is read
  // again after a quiet time, and refused for good only once two reads agree.
  const reloadSlot = async (slot: Slot): Promise<ReloadEvent | undefined> => {
    let lastSeen: string | undefined;
    for (let read = 1; ; read++) {
      let pair: Pair | undefined;
      try {
        pair = await readPair(slot.files!, slot.host);
        if (samePair(pair, slot.loaded) || (slot.rejected && samePair(pair, slot.rejected))) return undefined;
        const event = apply(slot, pair);
        slot.rejected = undefined;
        return event;
      } catch (err) {
        const seen = pair ? `${String(pair.cert)}\0${String(pair.key)}` : `unreadable: ${(err as Error).message}`;
        if (read < SETTLE_READS && seen !== lastSeen && !closed) {
          lastSeen = seen;
          await sleep(debounceMs);
          continue;
        }
        slot.rejected = pair;
        throw err;
      }
    }
  };
  const reloadOnce = async (): Promise<ReloadResult> => {
    const result: ReloadResult = { reloaded: [], errors: [] };
    for (const slot of watched) {
      try {
        const event = await reloadSlot(slot);
        if (!event) continue;
        counters.reloads++;
        counters.lastReloadAt = Date.now();
        result.reloaded.push(event);
      } catch (err) {
        const why = err instanceof CertificateError ? err.message : `${label(slot.host)}: ${(err as Error).message}`;
        const e = new CertificateError(`${why}; still serving the previous one`, slot.host);
        counters.reloadFailures++;
        result.errors.push(e);
        onError(e);
      }
    }
    // Outside the try: a throwing callback is the caller's bug, not a refused certificate.
    for (const event of result.reloaded) options.onReload?.(event);
    return result;
  };
  const reload = (): Promise<ReloadResult> => {
    const next = queue.then(reloadOnce);
    queue = next.catch(() => {});
    return next;
  };

  // Directories, not files: editors, certbot and Kubernetes replace files by rename or swap a
  // symlink, after which a watch on the old file sees nothing more.
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs).unref();
  };
  const watchers: FSWatcher[] = [];
  const stop = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
  const dirs = new Set(watched.flatMap((s) => [dirname(s.files!.certFile), dirname(s.files!.keyFile)]));
  try {
    for (const dir of dirs) {
      // Not persistent: a forgotten watcher must not keep the process alive after the server closed.
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', (err) =>
        onError(new CertificateError(`stopped watching ${dir} for certificate changes: ${err.message}`, undefined)),
      );
      watchers.push(w);
    }
  } catch (err) {
    stop();
    throw new CertificateError(`cannot watch certificate files: ${(err as Error).message}`, undefined);
  }
  server.once('close', stop);

  return { server, stats: metrics.stats, reload, close: stop };
}
