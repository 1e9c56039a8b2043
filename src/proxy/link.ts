// A proxied TCP connection: per direction, a chain of toxic stages between the source socket and the
// destination socket, with flow control, re-linked live when the proxy's toxics change. With no
// stage on a direction, chunks go straight from one socket to the other.

import type { Socket } from 'node:net';
import { dialUpstream, Rolls, type ConnectionHost, type ProxiedConnection } from './connection.ts';
import type { ToxicChange, ToxicEntry } from './toxic-set.ts';
import type { Sink, Stage, StageContext, Stream, TcpToxic } from './toxics/toxic.ts';

/**
 * Bytes a direction may hold in its stages plus the destination's write buffer before the source is
 * paused. Like Toxiproxy's 1024-chunk channel this lets latency overlap many chunks (no throughput
 * loss up to 16 MiB per round trip of delay) while bounding memory per connection.
 */
const HIGH_WATER = 16 * 1024 * 1024;
const LOW_WATER = HIGH_WATER / 2;

/**
 * Read size from the upstream, which we dial and so may read into buffers of our own (net's onread):
 * four times Node's 64 KiB, for a quarter of the reads in bulk, and the buffer is read into again
 * when the last write of it went out at once, so that small request/response traffic allocates nothing.
 */
const UPSTREAM_READ_BYTES = 256 * 1024;

interface Link {
  entry: ToxicEntry;
  stage: Stage;
}

class Direction {
  readonly stream: Stream;
  readonly src: Socket;
  readonly dst: Socket;
  private readonly conn: TcpConnection;
  private links: Link[] = [];
  private head: Stage | null = null;
  /** Bytes inside the stages: pushed in, not yet written out or dropped. */
  private inFlight = 0;
  private paused = false;
  /** The end (or a toxic's close) reached the destination: nothing more flows. */
  done = false;
  private readonly sink: Sink;
  private readonly ctx: StageContext;

  constructor(conn: TcpConnection, stream: Stream, src: Socket, dst: Socket) {
    this.conn = conn;
    this.stream = stream;
    this.src = src;
    this.dst = dst;
    this.sink = {
      push: (chunk) => {
        this.inFlight -= chunk.length;
        if (this.done || this.dst.destroyed) return;
        if (this.dst.write(chunk)) this.maybeResume();
      },
      end: () => {
        if (this.done) return;
        this.done = true;
        this.disposeStages();
        if (!this.dst.destroyed) this.dst.end();
      },
      close: () => {
        if (this.done) return;
        this.done = true;
        this.disposeStages();
        this.conn.closeAfterFlush(this.dst);
      },
    };
    this.ctx = {
      dropped: (bytes) => {
        this.inFlight -= bytes;
        this.maybeResume();
      },
      reset: () => this.conn.reset(),
    };
  }

  start(): void {
    for (const entry of this.conn.host.toxics.forStream(this.stream)) {
      if (this.conn.rolls.applies(entry)) this.links.push({ entry, stage: this.createStage(entry) });
    }
    this.relink();
    if (this.stream === 'upstream') this.src.on('data', (chunk: Buffer) => this.receive(chunk));
    this.src.on('end', () => {
      if (this.head === null) this.sink.end();
      else this.head.end();
    });
    this.dst.on('drain', () => this.maybeResume());
  }

  /** A chunk from the source. Returns whether the chunk's memory is free again (nothing holds it). */
  receive(chunk: Buffer): boolean {
    const counters = this.conn.host.counters;
    if (this.stream === 'upstream') counters.bytesUpstream += chunk.length;
    else counters.bytesDownstream += chunk.length;
    const head = this.head;
    if (head === null) {
      if (!this.dst.write(chunk)) this.pause();
      // Written through to the kernel at once: no write request keeps a reference.
      return this.dst.writableLength === 0;
    }
    this.inFlight += chunk.length;
    head.push(chunk);
    if (this.inFlight + this.dst.writableLength > HIGH_WATER) this.pause();
    return false;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.src.pause();
  }

  private maybeResume(): void {
    if (this.paused && this.inFlight + this.dst.writableLength <= LOW_WATER) {
      this.paused = false;
      this.src.resume();
    }
  }

  private createStage(entry: ToxicEntry): Stage {
    const def = entry.definition as TcpToxic;
    let state = this.conn.states.get(entry);
    if (state === undefined && def.newState) {
      state = def.newState();
      this.conn.states.set(entry, state);
    }
    return def.createStage(entry.attributes, this.ctx, state);
  }

  private relink(): void {
    const order = this.conn.host.toxics.forStream(this.stream);
    this.links.sort((a, b) => order.indexOf(a.entry) - order.indexOf(b.entry));
    for (let i = 0; i < this.links.length; i++) this.links[i]!.stage.next = this.links[i + 1]?.stage ?? this.sink;
    this.head = this.links[0]?.stage ?? null;
    this.maybeResume();
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
    if (change.kind !== 'remove' && this.conn.rolls.applies(entry)) this.links.push({ entry, stage: this.createStage(entry) });
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
  readonly rolls = new Rolls();
  /** Per-connection state of stateful toxics, kept across updates. */
  readonly states = new Map<ToxicEntry, unknown>();
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

  start(): void {
    const client = this.client;
    client.setNoDelay(true);
    client.on('error', () => this.upstream?.resetAndDestroy());
    client.on('close', () => {
      // Gone before the upstream answered: the dial is abandoned.
      if (this.directions.length === 0) {
        this.upstream?.destroy();
        this.finish();
      } else this.socketClosed();
    });
    // Upstream reads land in our buffers; `spare` is the last one when nothing holds it any more.
    let spare: Buffer | undefined;
    const onread = {
      buffer: () => {
        const b = spare ?? Buffer.allocUnsafe(UPSTREAM_READ_BYTES);
        spare = undefined;
        return b;
      },
      callback: (bytes: number, buf: Uint8Array): boolean => {
        const down = this.directions[1];
        if (down && down.receive((buf as Buffer).subarray(0, bytes))) spare = buf as Buffer;
        return true; // flow control pauses the socket itself
      },
    };
    this.upstream = dialUpstream(
      this.host,
      client,
      (upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        upstream.on('error', () => client.resetAndDestroy());
        upstream.on('close', () => this.socketClosed());
        this.directions = [new Direction(this, 'upstream', client, upstream), new Direction(this, 'downstream', upstream, client)];
        for (const d of this.directions) d.start();
        this.unsubscribe = this.host.toxics.subscribe((change) => {
          for (const d of this.directions) d.change(change);
        });
        client.resume();
      },
      onread,
    );
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
