// The proxy's hot path under net.Socket: reading a connected socket's libuv handle into a buffer of
// ours and writing buffers straight to a handle, so that a chunk costs one read and one write call,
// with no allocation, no copy and no stream machinery. net.Socket keeps everything else (the end,
// errors, close, shutdown after the queued writes, reset).
//
// Why reach under net: each chunk through Readable/Writable allocates a buffer, a write request
// and a tick; measured, that was half of the proxy's user-space CPU per request (the kernel's share,
// two reads and two writes per request, is the same for any proxy, C included).
// The handle API used (process.binding('stream_wrap'), handle.onread/useUserBuffer/readStart/
// readStop/writeBuffer) is what net.Socket itself sits on, as in src/bench/transport.ts; it is
// checked at load and per socket, and callers use the sockets' own API where it is missing (or
// when TCPLENS_PROXY_IO=socket, which the tests use to cover that path).

import type { Socket } from 'node:net';
import { legacyBinding, socketHandle } from '../node-internals.ts';

/** A handle's reader: told of each read into the handle's buffer. */
export interface RawReader {
  /**
   * `n` bytes arrived at the start of the buffer given to attachReader (or the last one returned
   * here). Return a buffer to read into from now on, or undefined to keep the current one.
   */
  rawData(n: number): Uint8Array | undefined;
  /** The end (FIN) or a read error arrived; net.Socket's own handling ('end', 'error') follows. */
  rawEnd(): void;
}

/** Told when a write that could not complete at once has completed (or failed, status < 0). */
export interface RawWriter {
  rawWritten(data: Uint8Array, status: number): void;
}

interface WriteReq {
  oncomplete: (this: WriteReq, status: number) => void;
  writer: RawWriter | null;
  data: Uint8Array | null;
}

interface StreamBinding {
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const READER = Symbol('tcplens.reader');

export interface RawHandle {
  onread: (this: RawHandle, arrayBuffer: unknown) => unknown;
  reading: boolean;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  [READER]?: RawReader;
}

function loadBinding(): StreamBinding | undefined {
  if (process.env.TCPLENS_PROXY_IO === 'socket') return undefined;
  try {
    const stream = legacyBinding('stream_wrap');
    if (!stream) return undefined;
    const state = stream.streamBaseState;
    const k = stream.kReadBytesOrError;
    const kAsync = stream.kLastWriteWasAsync;
    if (
      typeof stream.WriteWrap !== 'function' ||
      !(state instanceof Int32Array) ||
      typeof k !== 'number' ||
      typeof kAsync !== 'number'
    )
      return undefined;
    return {
      WriteWrap: stream.WriteWrap as StreamBinding['WriteWrap'],
      state,
      kReadBytesOrError: k,
      kLastWriteWasAsync: kAsync,
    };
  } catch {
    return undefined;
  }
}

const binding = loadBinding();

/** net.Socket's own read callback (onStreamRead), which ends and errors are handed back to. */
let netOnRead: RawHandle['onread'] | undefined;

/**
 * The socket's handle when this process can drive it directly: a connected TCP handle with the
 * methods used here, whose read callback is net's own (or already ours). Otherwise undefined: use
 * the socket.
 */
export function rawHandleOf(socket: Socket): RawHandle | undefined {
  if (binding === undefined) return undefined;
  // A TLS socket's handle carries records, not the application's bytes: the socket decrypts them.
  if ((socket as { encrypted?: boolean }).encrypted === true) return undefined;
  const h = socketHandle(socket) as Partial<RawHandle> | undefined;
  if (!h || typeof h.onread !== 'function') return undefined;
  for (const m of ['useUserBuffer', 'readStart', 'readStop', 'writeBuffer'] as const)
    if (typeof h[m] !== 'function') return undefined;
  if (h.onread === onRawRead) return h as RawHandle;
  netOnRead ??= h.onread;
  return h.onread === netOnRead ? (h as RawHandle) : undefined;
}

// One read callback for every handle: `this` leads to the reader, so nothing is made per read.
function onRawRead(this: RawHandle, arrayBuffer: unknown): unknown {
  const n = binding!.state[binding!.kReadBytesOrError]!;
  const reader = this[READER];
  if (n > 0 && reader !== undefined) return reader.rawData(n);
  if (n < 0 && reader !== undefined) reader.rawEnd();
  return netOnRead!.call(this, arrayBuffer);
}

/** From now on the handle reads into `buffer` and tells `reader`; reading is not started. */
export function attachReader(handle: RawHandle, buffer: Uint8Array, reader: RawReader): void {
  handle[READER] = reader;
  handle.useUserBuffer(buffer);
  handle.onread = onRawRead;
}

/** Start reading; returns a libuv error (< 0) or 0. */
export function readStart(handle: RawHandle): number {
  if (handle.reading) return 0;
  handle.reading = true;
  return handle.readStart();
}

export function readStop(handle: RawHandle): number {
  if (!handle.reading) return 0;
  handle.reading = false;
  return handle.readStop();
}

function onWriteDone(this: WriteReq, status: number): void {
  const writer = this.writer;
  const data = this.data!;
  this.writer = this.data = null;
  writer?.rawWritten(data, status);
}

function newWriteReq(): WriteReq {
  const req = new binding!.WriteWrap();
  req.oncomplete = onWriteDone;
  req.writer = req.data = null;
  return req;
}

// A write the kernel takes at once never touches its request on the native side, so one request
// serves every such write; a write that has to wait keeps its request, and the next gets a new one.
let spareReq: WriteReq | undefined;

/** What writeRaw did: all written, or queued (the writer hears when it is done); else a libuv error < 0. */
export const WRITTEN = 0;
export const QUEUED = 1;

/**
 * Write `data` to the handle: at once if the kernel takes it all, else the rest is queued by libuv
 * behind earlier writes, `data` must stay untouched, and `writer.rawWritten` follows.
 */
export function writeRaw(handle: RawHandle, data: Uint8Array, writer: RawWriter): number {
  const b = binding!;
  const req = spareReq ?? newWriteReq();
  const err = handle.writeBuffer(req, data);
  if (err < 0) {
    spareReq = req;
    return err;
  }
  if (b.state[b.kLastWriteWasAsync] === 0) {
    spareReq = req;
    return WRITTEN;
  }
  spareReq = undefined;
  req.writer = writer;
  req.data = data; // also keeps the memory alive while libuv points into it
  return QUEUED;
}
