// How a bench connection moves bytes: over libuv's TCP handle directly (the fast path for plain
// TCP), or over net/tls sockets (TLS, and wherever the fast path is not available).
//
// Why a raw handle: opening a connection through net.Socket builds a stream, its state and
// listeners each time; with a new connection per request that costs more than the kernel's own
// work. The handle API used here (process.binding('tcp_wrap'/'stream_wrap')) is what net.Socket
// itself sits on; it is checked at load and the socket path is used if anything is missing.

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { getSystemErrorName } from 'node:util';
import { legacyBinding } from '../node-internals.ts';

export interface TransportEvents {
  /** TCP is connected. */
  onConnect(): void;
  /** TLS handshake done (TLS only). */
  onSecure(): void;
  /** n bytes arrived in buf[0, n). */
  onData(buf: Buffer, n: number): void;
  /** The peer closed its side (FIN). */
  onEnd(): void;
  onError(code: string, message: string): void;
}

export interface Transport {
  write(data: Uint8Array): void;
  /** Send FIN once queued writes are out. */
  end(): void;
  /** Close now. No event follows. */
  destroy(): void;
  /**
   * Close gracefully, with no event to follow: FIN (a TLS close_notify first) after the queued
   * writes, then read and discard until the peer's own close, then close. Closing at once instead
   * makes the kernel answer with a reset whatever the peer still sends (a TLS close_notify, say)
   * or whatever sits unread. Closes anyway after RETIRE_TIMEOUT_MS.
   */
  retire(): void;
}

/** How long a retired connection waits for the peer to close before it is closed regardless. */
export const RETIRE_TIMEOUT_MS = 1_000;

/** A retired raw connection's read buffer: what still arrives is read and thrown away. */
const RETIRED_BUFFER_BYTES = 4096;

/** Where a retired connection's events go: nowhere, but its end closes it. */
function retiredEvents(t: { destroy(): void }): TransportEvents {
  const close = () => t.destroy();
  return { onConnect: noop, onSecure: noop, onData: noop, onEnd: close, onError: close };
}

export interface TransportOptions {
  host: string;
  port: number;
  tls?: { servername?: string; rejectUnauthorized: boolean };
  noDelay: boolean;
  /** The connection's read buffer, reused for every read. */
  buffer: Buffer;
  /** host is an IPv6 address (decided once per run, not per connection). */
  ipv6: boolean;
}

// ---- the raw handle path ----------------------------------------------------------------------

interface RawBinding {
  TCP: new (type: number) => RawHandle;
  TCPConnectWrap: new () => { oncomplete: unknown };
  WriteWrap: new () => { handle: unknown; oncomplete: unknown; async: boolean };
  ShutdownWrap: new () => { handle: unknown; oncomplete: unknown };
  SOCKET: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

interface RawHandle {
  owner?: RawTransport;
  onread: (this: RawHandle) => void;
  useUserBuffer(buf: Buffer): void;
  connect(req: unknown, host: string, port: number): number;
  connect6(req: unknown, host: string, port: number): number;
  readStart(): number;
  writeBuffer(req: unknown, data: Uint8Array): number;
  shutdown(req: unknown): number;
  setNoDelay(on: boolean): number;
  close(cb?: () => void): void;
}

function loadRawBinding(): RawBinding | undefined {
  if (process.env.TCPLENS_BENCH_TRANSPORT === 'socket') return undefined;
  try {
    const tcp = legacyBinding('tcp_wrap') as
      | (Record<string, unknown> & { constants?: { SOCKET?: number } })
      | undefined;
    const stream = legacyBinding('stream_wrap');
    if (!tcp || !stream) return undefined;
    const state = stream.streamBaseState as Int32Array | undefined;
    const k = stream.kReadBytesOrError as number | undefined;
    const kAsync = stream.kLastWriteWasAsync as number | undefined;
    const shapes = [tcp.TCP, tcp.TCPConnectWrap, stream.WriteWrap, stream.ShutdownWrap];
    if (
      shapes.some((f) => typeof f !== 'function') ||
      !state ||
      typeof k !== 'number' ||
      typeof kAsync !== 'number' ||
      typeof tcp.constants?.SOCKET !== 'number'
    ) {
      return undefined;
    }
    const proto = (tcp.TCP as { prototype: Record<string, unknown> }).prototype;
    for (const m of [
      'useUserBuffer',
      'connect',
      'connect6',
      'readStart',
      'writeBuffer',
      'shutdown',
      'setNoDelay',
      'close',
    ]) {
      if (typeof proto[m] !== 'function') return undefined;
    }
    return {
      TCP: tcp.TCP as RawBinding['TCP'],
      TCPConnectWrap: tcp.TCPConnectWrap as RawBinding['TCPConnectWrap'],
      WriteWrap: stream.WriteWrap as RawBinding['WriteWrap'],
      ShutdownWrap: stream.ShutdownWrap as RawBinding['ShutdownWrap'],
      SOCKET: tcp.constants.SOCKET,
      state,
      kReadBytesOrError: k,
      kLastWriteWasAsync: kAsync,
    };
  } catch {
    return undefined;
  }
}

const raw = loadRawBinding();
// Read on every callback: kept out of the binding object.
const streamState = raw?.state;
const kRead = raw?.kReadBytesOrError ?? 0;
const kWriteAsync = raw?.kLastWriteWasAsync ?? 0;

/** Which path plain TCP connections take in this process. */
export const fastPath = raw !== undefined;

function errorName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return `errno ${errno}`;
  }
}

// Shared callbacks: `this` or the handle leads back to the transport, so nothing is allocated
// per connection beyond the handle and its connect request.
function rawOnConnect(status: number, handle: RawHandle): void {
  const t = handle.owner;
  if (!t || t.closed) return;
  if (status < 0) {
    const code = errorName(status);
    t.events.onError(code, `connect ${code} ${t.address()}`);
    return;
  }
  handle.readStart();
  t.connected();
}

function rawOnRead(this: RawHandle): void {
  const t = this.owner;
  if (!t || t.closed) return;
  const n = streamState![kRead]!;
  if (n > 0) {
    t.events.onData(t.buffer, n);
  } else if (n < 0) {
    const code = errorName(n);
    if (code === 'EOF') t.events.onEnd();
    else t.events.onError(code, `read ${code}`);
  }
}

function rawOnWrite(this: { handle: RawHandle }, status: number): void {
  const t = this.handle.owner;
  if (status < 0 && t && !t.closed) {
    const code = errorName(status);
    t.events.onError(code, `write ${code}`);
  }
}

function noop(): void {}

function newWriteReq(): { handle: unknown; oncomplete: unknown; async: boolean } {
  const w = new raw!.WriteWrap();
  w.oncomplete = rawOnWrite;
  w.async = false;
  return w;
}

// A write that the kernel takes at once (the usual case: a request is small and the socket's
// buffer empty) never touches its request object on the native side: no native WriteWrap, no
// completion callback. So one request object serves every such write; only a write that has to
// wait keeps the object, and the next write gets a fresh one.
let writeReq: ReturnType<typeof newWriteReq> | undefined;

class RawTransport implements Transport {
  closed = false;
  events: TransportEvents;
  readonly buffer: Buffer;
  private readonly options: TransportOptions;
  private readonly handle: RawHandle;
  private isConnected = false;
  // Requests written before the connection is up wait here and go out from the connect callback,
  // where the kernel takes them at once (a write queued on a connecting socket costs a native
  // write request and one more callback per connection).
  private pending: Uint8Array | undefined;
  private pendingMore: Uint8Array[] | undefined;
  private endWhenConnected = false;

  constructor(o: TransportOptions, events: TransportEvents) {
    const b = raw!;
    this.events = events;
    this.buffer = o.buffer;
    this.options = o;
    const h = new b.TCP(b.SOCKET);
    h.owner = this;
    h.onread = rawOnRead;
    h.useUserBuffer(o.buffer);
    if (o.noDelay) h.setNoDelay(true);
    const req = new b.TCPConnectWrap();
    req.oncomplete = rawOnConnect;
    this.handle = h;
    const err = o.ipv6 ? h.connect6(req, o.host, o.port) : h.connect(req, o.host, o.port);
    if (err < 0) {
      const code = errorName(err);
      // Reported asynchronously, as sockets do, so callers see one order of events.
      queueMicrotask(() => {
        if (!this.closed) events.onError(code, `connect ${code} ${this.address()}`);
      });
    }
  }

  address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  connected(): void {
    this.isConnected = true;
    // First the event (the connect time is taken there), then what waited for the connection.
    this.events.onConnect();
    if (this.closed) return;
    const first = this.pending;
    if (first) {
      this.pending = undefined;
      this.send(first);
      const more = this.pendingMore;
      if (more) {
        this.pendingMore = undefined;
        for (const data of more) if (!this.closed) this.send(data);
      }
    }
    if (this.endWhenConnected && !this.closed) this.shutdown();
  }

  write(data: Uint8Array): void {
    if (this.isConnected) this.send(data);
    else if (this.pending === undefined) this.pending = data;
    else (this.pendingMore ??= []).push(data);
  }

  private send(data: Uint8Array): void {
    const w = (writeReq ??= newWriteReq());
    w.handle = this.handle;
    const err = this.handle.writeBuffer(w, data);
    if (streamState![kWriteAsync])
      writeReq = undefined; // w now belongs to the queued write
    else w.handle = undefined;
    if (err < 0) {
      const code = errorName(err);
      queueMicrotask(() => {
        if (!this.closed) this.events.onError(code, `write ${code}`);
      });
    }
  }

  end(): void {
    // Before the connection is up, the FIN waits for it, behind the requests that wait there.
    if (!this.isConnected) this.endWhenConnected = true;
    else this.shutdown();
  }

  private shutdown(): void {
    const req = new raw!.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = noop;
    this.handle.shutdown(req);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = this.pendingMore = undefined;
    this.handle.close();
  }

  retire(): void {
    if (this.closed) return;
    if (!this.isConnected) {
      this.destroy();
      return;
    }
    this.events = retiredEvents(this);
    // Its reads no longer go into the connection's buffer, which its next transport reads into.
    this.handle.useUserBuffer(Buffer.allocUnsafe(RETIRED_BUFFER_BYTES));
    this.shutdown();
    setTimeout(() => this.destroy(), RETIRE_TIMEOUT_MS);
  }
}

// ---- the socket path --------------------------------------------------------------------------

class SocketTransport implements Transport {
  private readonly socket: Socket;
  private events: TransportEvents;

  constructor(o: TransportOptions, events: TransportEvents) {
    this.events = events;
    let s: Socket;
    if (o.tls) {
      s = tlsConnect({
        host: o.host,
        port: o.port,
        servername: o.tls.servername,
        rejectUnauthorized: o.tls.rejectUnauthorized,
        ALPNProtocols: ['http/1.1'],
      });
      s.on('secureConnect', () => this.events.onSecure());
      s.on('data', (b: Buffer) => this.events.onData(b, b.length));
    } else {
      s = netConnect({
        host: o.host,
        port: o.port,
        noDelay: o.noDelay,
        onread: {
          buffer: o.buffer,
          callback: (n: number, b: Buffer) => {
            this.events.onData(b, n);
            return true;
          },
        },
      });
    }
    s.on('connect', () => this.events.onConnect());
    s.on('end', () => this.events.onEnd());
    s.on('error', (err: NodeJS.ErrnoException) => this.events.onError(err.code ?? 'error', err.message));
    this.socket = s;
  }

  retire(): void {
    if (this.socket.connecting || this.socket.destroyed) {
      this.destroy();
      return;
    }
    this.events = retiredEvents(this);
    const timer = setTimeout(() => this.destroy(), RETIRE_TIMEOUT_MS);
    this.socket.once('close', () => clearTimeout(timer));
    this.socket.end();
  }

  write(data: Uint8Array): void {
    this.socket.write(data);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.removeAllListeners();
    this.socket.on('error', noop);
    this.socket.destroy();
  }
}

export function openTransport(o: TransportOptions, events: TransportEvents): Transport {
  return raw && !o.tls ? new RawTransport(o, events) : new SocketTransport(o, events);
}
