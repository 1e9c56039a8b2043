// A proxied connection: per direction, a chain of toxic stages between the source socket and the
// destination socket, with flow control, re-linked live when the proxy's toxics change. With no
// stage on a direction, each read goes straight from one socket to the other.

import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { dialUpstream, Rolls, type ConnectionHost, type ProxiedConnection, type ProxyCounters } from './connection.ts';
import {
  attachReader,
  QUEUED,
  rawHandleOf,
  readStart,
  readStop,
  WRITTEN,
  writeRaw,
  type RawHandle,
  type RawReader,
  type RawWriter,
} from './raw-stream.ts';
import type { ToxicChange, ToxicEntry } from './toxic-set.ts';
import type { Sink, Stage, StageContext, Stream, TcpToxic } from './toxics/toxic.ts';

/**
 * Bytes a direction may hold in its stages plus the destination's write queue before the source is
 * paused. Like Toxiproxy's 1024-chunk channel this lets latency overlap many chunks (no throughput
 * loss up to 16 MiB per round trip of delay) while bounding memory per connection.
 */
const HIGH_WATER = 16 * 1024 * 1024;
const LOW_WATER = HIGH_WATER / 2;
/**
 * Bytes the stages let through that may wait in the destination's write queue before the source is
 * paused, and the level it reads again at: none, as without stages. Once the kernel's send buffer
 * is full more gain nothing, and reads into a few buffers in turn stay in the CPU's cache (measured:
 * less CPU per GiB than with 1 MiB allowed).
 */
const QUEUE_HIGH_WATER = 0;
const QUEUE_LOW_WATER = 0;

/**
 * A direction's read buffer, reused for every read: small, since most connections carry requests
 * and responses and each keeps two; a read that fills it swaps it once for a bulk one, which takes
 * a quarter of the reads of Node's 64 KiB.
 */
const READ_BYTES = 16 * 1024;
const READ_BYTES_BULK = 256 * 1024;
/**
 * A read at least this big that stages will hold is handed over with its buffer (reads go on into a
 * new one) instead of being copied out: copying is cheaper for small reads, allocating for big ones.
 */
const HAND_OVER_BYTES = 64 * 1024;
/**
 * Bulk read buffers (READ_BYTES_BULK each) a direction keeps to read into again: a few while bytes
 * flow (a write waits in the queue while the next read comes in), fewer once all was written.
 */
const SPARE_BUFFERS = 4;
const SPARE_BUFFERS_IDLE = 2;

// Why a direction's source is not read; it reads again when no reason is left.
/** The read buffer is being written out: a read now would overwrite bytes not yet sent. */
const WRITING = 1;
/** Stages and the destination's queue hold more than HIGH_WATER. */
const FULL = 2;
/** What the stages let through waits in the destination's queue beyond QUEUE_HIGH_WATER. */
const QUEUE = 4;

interface Link {
  entry: ToxicEntry;
  stage: Stage;
}

function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall });
}

class Direction implements RawReader, RawWriter {
  readonly stream: Stream;
  readonly src: Socket;
  readonly dst: Socket;
  private readonly conn: TcpConnection;
  private readonly counters: ProxyCounters;
  private readonly isUpstream: boolean;
  /** The sockets' handles when reads and writes bypass net.Socket (raw-stream.ts); else undefined. */
  private readonly srcHandle: RawHandle | undefined;
  private readonly dstHandle: RawHandle | undefined;
  private buffer: Buffer | undefined;
  /** buffer[0, view.length): the last read's bytes. */
  private view: Buffer | undefined;
  /** The part of `buffer` a queued write still sends from. */
  private bufferInWrite: Uint8Array | undefined;
  private links: Link[] = [];
  private head: Stage | null = null;
  /** Bytes inside the stages: pushed in, not yet written out or dropped. */
  private inFlight = 0;
  /** Bytes of our direct writes that libuv still queues. */
  private queued = 0;
  private stopped = 0;
  private srcEnded = false;
  /** The end (or a toxic's close) reached the destination: nothing more flows. */
  done = false;
  /**
   * Read buffers handed to the stages, by their memory, with the bytes not yet written out; and
   * bulk buffers whose bytes all were, to read into again. Allocating a buffer per bulk read costs
   * more in garbage collection than the copy it saves; a buffer whose bytes a stage dropped is
   * never counted back, and is left to the collector.
   */
  private lent: Map<ArrayBufferLike, { buffer: Buffer; left: number }> | undefined;
  private spare: Buffer[] = [];
  private sinkObject: Sink | undefined;
  private ctxObject: StageContext | undefined;

  constructor(conn: TcpConnection, stream: Stream, src: Socket, dst: Socket, raw: boolean) {
    this.conn = conn;
    this.stream = stream;
    this.src = src;
    this.dst = dst;
    this.counters = conn.host.counters;
    this.isUpstream = stream === 'upstream';
    this.srcHandle = raw ? rawHandleOf(src) : undefined;
    this.dstHandle = raw ? rawHandleOf(dst) : undefined;
  }

  /** Where the last stage sends; made with the first stage, most connections never need it. */
  private get sink(): Sink {
    return (this.sinkObject ??= {
      push: (chunk) => {
        this.inFlight -= chunk.length;
        if (this.done || this.dst.destroyed) return;
        this.write(chunk);
        if (this.queued > QUEUE_HIGH_WATER) this.stop(QUEUE);
        else this.relieve();
      },
      end: () => this.endDestination(),
      close: () => {
        if (this.done) return;
        this.done = true;
        this.disposeStages();
        this.conn.closeAfterFlush(this.dst);
      },
    });
  }

  private get ctx(): StageContext {
    return (this.ctxObject ??= {
      dropped: (bytes) => {
        if (this.isUpstream) this.counters.droppedUpstream += bytes;
        else this.counters.droppedDownstream += bytes;
        this.inFlight -= bytes;
        this.relieve();
      },
      reset: () => this.conn.reset(),
    });
  }

  start(): void {
    const toxics = this.conn.host.toxics;
    if (toxics.size > 0) {
      for (const entry of toxics.forStream(this.stream)) {
        if (this.linked(entry)) this.links.push({ entry, stage: this.createStage(entry) });
      }
      this.relink();
    }
    if (this.srcHandle) {
      this.buffer = Buffer.allocUnsafeSlow(READ_BYTES);
      attachReader(this.srcHandle, this.buffer, this);
    } else {
      // Node's own reads: each chunk is a fresh buffer nobody else holds.
      this.src.on('data', (chunk: Buffer) => this.received(chunk, true));
    }
    this.src.on('end', () => {
      this.srcEnded = true;
      if (this.head === null) this.endDestination();
      else this.head.end();
    });
    // Only the socket's own writes end in 'drain'; direct writes report to rawWritten.
    if (!this.dstHandle) this.dst.on('drain', () => this.relieve());
    this.startReading();
  }

  // ——— reading ———

  rawData(n: number): Uint8Array | undefined {
    const buffer = this.buffer!;
    if (this.head !== null && n >= HAND_OVER_BYTES) {
      // The stages keep these bytes: they get the buffer itself, and reads go to a new one.
      this.lend(buffer, n);
      this.received(buffer.subarray(0, n), true);
      this.view = undefined;
      this.buffer =
        (buffer.length === READ_BYTES_BULK ? this.spare.pop() : undefined) ??
        Buffer.allocUnsafeSlow(n < buffer.length ? buffer.length : READ_BYTES_BULK);
      return this.buffer;
    }
    // Requests and responses of one kind tend to have one size: the view of the last read often fits.
    let view = this.view;
    if (view === undefined || view.length !== n) view = this.view = buffer.subarray(0, n);
    this.received(view, false);
    if (n < buffer.length || buffer.length >= READ_BYTES_BULK) return undefined;
    // A full read: bulk is flowing. Bytes a write still sends keep the old buffer alive.
    this.buffer = Buffer.allocUnsafeSlow(READ_BYTES_BULK);
    this.view = undefined;
    return this.buffer;
  }

  private lend(buffer: Buffer, n: number): void {
    (this.lent ??= new Map()).set(buffer.buffer, { buffer, left: n });
  }

  /** `chunk` was written out: its read buffer may be read into again once all of its bytes were. */
  private returned(chunk: Uint8Array): void {
    const lent = this.lent;
    if (lent === undefined) return;
    const e = lent.get(chunk.buffer);
    if (e === undefined) return;
    e.left -= chunk.length;
    if (e.left > 0) return;
    lent.delete(chunk.buffer);
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(e.buffer);
    if (this.spare.length > SPARE_BUFFERS_IDLE && lent.size === 0) this.spare.length = SPARE_BUFFERS_IDLE;
  }

  rawEnd(): void {
    this.srcEnded = true;
  }

  /** Bytes from the source; `owned` when nobody else will write into their memory. */
  private received(chunk: Buffer, owned: boolean): void {
    if (this.isUpstream) this.counters.bytesUpstream += chunk.length;
    else this.counters.bytesDownstream += chunk.length;
    const head = this.head;
    if (head === null) {
      if (this.done || this.dst.destroyed) return;
      if (owned) this.write(chunk);
      else this.writeFromBuffer(chunk);
      return;
    }
    this.inFlight += chunk.length;
    // Stages hold chunks for later: they get memory of their own.
    head.push(owned ? chunk : Buffer.from(chunk));
    if (this.pressure() > HIGH_WATER) this.stop(FULL);
    if (this.queued > QUEUE_HIGH_WATER) this.stop(QUEUE);
  }

  private stop(reason: number): void {
    if (this.stopped === 0 && !this.src.destroyed) {
      if (this.srcHandle) readStop(this.srcHandle);
      else this.src.pause();
    }
    this.stopped |= reason;
  }

  private go(reason: number): void {
    if ((this.stopped & reason) === 0) return;
    this.stopped &= ~reason;
    if (this.stopped === 0) this.startReading();
  }

  private startReading(): void {
    if (this.stopped !== 0 || this.srcEnded || this.src.destroyed) return;
    if (!this.srcHandle) {
      this.src.resume();
      return;
    }
    const err = readStart(this.srcHandle);
    if (err < 0) this.src.destroy(errnoError(err, 'read'));
  }

  // ——— writing ———

  /** Bytes in our read buffer, straight to the destination. */
  private writeFromBuffer(view: Buffer): void {
    const result = writeRaw(this.dstHandle!, view, this);
    if (result === WRITTEN) return;
    if (result === QUEUED) {
      // Reading stops until the kernel has taken the rest: that is the backpressure, and the buffer
      // is not read into while libuv still sends from it.
      this.queued += view.length;
      this.bufferInWrite = view;
      this.stop(WRITING);
      return;
    }
    this.dst.destroy(errnoError(result, 'write'));
  }

  /**
   * A chunk with memory of its own (from Node's reads, or out of the stages) to the destination.
   * With handles, every write of the direction goes to libuv directly, so their order is libuv's
   * queue order; without, every one goes through the socket.
   */
  private write(chunk: Buffer): void {
    if (this.dstHandle === undefined) {
      if (!this.dst.write(chunk) && this.head === null) this.stop(FULL);
      return;
    }
    const result = writeRaw(this.dstHandle, chunk, this);
    if (result === WRITTEN) this.returned(chunk);
    else if (result === QUEUED) this.queued += chunk.length;
    else this.dst.destroy(errnoError(result, 'write'));
  }

  rawWritten(data: Uint8Array, status: number): void {
    this.queued -= data.length;
    if (status < 0) {
      // ECANCELED when the socket was closed meanwhile: nothing to report.
      if (!this.dst.destroyed) this.dst.destroy(errnoError(status, 'write'));
      return;
    }
    if (data === this.bufferInWrite) {
      this.bufferInWrite = undefined;
      this.go(WRITING);
    } else this.returned(data);
    this.relieve();
  }

  private pressure(): number {
    return this.inFlight + this.queued + this.dst.writableLength;
  }

  /** Read again once what waits for the destination fell to LOW_WATER, and its queue to QUEUE_LOW_WATER. */
  private relieve(): void {
    if ((this.stopped & QUEUE) !== 0 && this.queued <= QUEUE_LOW_WATER) this.go(QUEUE);
    if ((this.stopped & FULL) !== 0 && this.pressure() <= LOW_WATER) this.go(FULL);
  }

  private endDestination(): void {
    if (this.done) return;
    this.done = true;
    this.disposeStages();
    // After the queued writes, libuv's shutdown sends the FIN.
    if (!this.dst.destroyed) this.dst.end();
  }

  // ——— toxics ———

  /**
   * Whether the toxic gets a stage on this connection: its roll picked it, and it would do
   * something. An inert one (latency 0) costs nothing: with no stage, bytes take the direct path.
   */
  private linked(entry: ToxicEntry): boolean {
    if (!this.conn.rolls.applies(entry)) return false;
    const def = entry.definition as TcpToxic;
    return def.inert === undefined || !def.inert(entry.effective);
  }

  private createStage(entry: ToxicEntry): Stage {
    const def = entry.definition as TcpToxic;
    let state = this.conn.states.get(entry);
    if (state === undefined && def.newState) {
      state = def.newState();
      this.conn.states.set(entry, state);
    }
    return def.createStage(entry.effective, this.ctx, state);
  }

  private relink(): void {
    const order = this.conn.host.toxics.forStream(this.stream);
    this.links.sort((a, b) => order.indexOf(a.entry) - order.indexOf(b.entry));
    for (let i = 0; i < this.links.length; i++) this.links[i]!.stage.next = this.links[i + 1]?.stage ?? this.sink;
    this.head = this.links[0]?.stage ?? null;
    this.relieve();
  }

  /** Follow a change of the proxy's toxics, as Toxiproxy's ToxicLink interrupts and re-links its stubs. */
  change(change: ToxicChange): void {
    const { entry } = change;
    if (entry.stream !== this.stream || this.done) return;
    const i = this.links.findIndex((l) => l.entry === entry);
    const old = i >= 0 ? this.links[i]!.stage : undefined;
    // The old stage hands on what it holds while its neighbours are still linked.
    old?.interrupt();
    if (i >= 0) this.links.splice(i, 1);
    if (change.kind !== 'remove' && this.linked(entry)) this.links.push({ entry, stage: this.createStage(entry) });
    this.relink();
    if (change.kind === 'remove') old?.cleanup?.();
  }

  disposeStages(): void {
    for (const l of this.links) l.stage.dispose();
    this.links = [];
    this.head = null;
  }
}

export class TcpConnection implements ProxiedConnection {
  readonly host: ConnectionHost;
  private rollsObject: Rolls | undefined;
  private statesObject: Map<ToxicEntry, unknown> | undefined;
  private readonly client: Socket;
  private upstream: Socket | undefined;
  private directions: Direction[] = [];
  private unsubscribe: (() => void) | undefined;
  private closedSockets = 0;
  private finished = false;

  constructor(host: ConnectionHost, client: Socket) {
    this.host = host;
    this.client = client;
  }

  /** Toxicity rolls, made when a toxic first asks. */
  get rolls(): Rolls {
    return (this.rollsObject ??= new Rolls(this.client));
  }

  /** Per-connection state of stateful toxics, kept across updates. */
  get states(): Map<ToxicEntry, unknown> {
    return (this.statesObject ??= new Map());
  }

  start(): void {
    const client = this.client;
    // The server set TCP_NODELAY on the accepted socket already (its noDelay option).
    client.on('error', () => this.upstream?.resetAndDestroy());
    client.on('close', () => {
      // Gone before the upstream answered: the dial is abandoned.
      if (this.directions.length === 0) {
        this.upstream?.destroy();
        this.finish();
      } else this.socketClosed();
    });
    const upstream = dialUpstream(this.host, client, (up) => this.connected(up));
    // Nothing is read before both sides are linked (net would start reading at connect).
    upstream.pause();
    this.upstream = upstream;
  }

  private connected(upstream: Socket): void {
    const client = this.client;
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.on('error', () => client.resetAndDestroy());
    upstream.on('close', () => this.socketClosed());
    const raw = rawHandleOf(client) !== undefined && rawHandleOf(upstream) !== undefined;
    this.directions = [
      new Direction(this, 'upstream', client, upstream, raw),
      new Direction(this, 'downstream', upstream, client, raw),
    ];
    for (const d of this.directions) d.start();
    this.unsubscribe = this.host.toxics.subscribe((change) => {
      for (const d of this.directions) d.change(change);
    });
  }

  /** RST both ways, now (reset_peer). */
  reset(): void {
    this.client.resetAndDestroy();
    this.upstream?.resetAndDestroy();
  }

  /** A toxic closed the connection: what was written reaches `dst`, then both sockets close (Toxiproxy's Close). */
  closeAfterFlush(dst: Socket): void {
    if (dst.destroyed) {
      this.destroy();
      return;
    }
    dst.end(() => this.destroy());
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  private socketClosed(): void {
    if (++this.closedSockets === 2) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.unsubscribe?.();
    for (const d of this.directions) d.disposeStages();
    this.host.forget(this);
  }
}
