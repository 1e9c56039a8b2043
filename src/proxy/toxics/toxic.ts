// The one interface every toxic implements. TCP toxics are stages in a per-direction chain of byte
// chunks (Toxiproxy's ToxicStub, with push callbacks instead of channels); HTTP toxics add their
// fault to the plan of one request. Adding a toxic means adding one file and one registry line.

export type Stream = 'upstream' | 'downstream';

/** The longest wait setTimeout honours; a longer one fires at once (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One attribute: an integer (Toxiproxy's are int64) with a default, in the unit its doc says. Any
 * value is accepted, as Toxiproxy accepts it, unless `min`/`max` are given; a stage sees it clamped
 * by `unit` to what it can carry out (a negative delay is none, a wait at most MAX_TIMER_MS).
 */
export interface AttributeSpec {
  default: number;
  /** Refused (400) below or above: only where a value means nothing outside (an HTTP status). */
  min?: number;
  max?: number;
  unit: 'ms' | 'us' | 'count';
  /** One line for --help and errors: unit and meaning. */
  doc: string;
}

export type Attributes = Record<string, number>;

/** Where a stage sends what it lets through; the next stage or the destination socket. */
export interface Sink {
  push(chunk: Buffer): void;
  /** The source ended (FIN), after everything pushed before. */
  end(): void;
  /** The toxic ends the connection after everything pushed before (Toxiproxy closes the stub). */
  close(): void;
}

/** What a stage may ask of the connection it lives in. */
export interface StageContext {
  /** Bytes this stage threw away, so that flow control stops counting them as in flight. */
  dropped(bytes: number): void;
  /** Abort both sockets with RST now. */
  reset(): void;
}

/** One toxic on one direction of one connection. */
export interface Stage extends Sink {
  /** Set by the chain; changes when a neighbour is added or removed. */
  next: Sink;
  /**
   * The toxic is being replaced or removed: hand on what is held, now and in order, and stop timers.
   * Toxiproxy's "don't drop any data on the floor" on interrupt.
   */
  interrupt(): void;
  /** After interrupt() when the toxic is removed for good (timeout closes the connection here). */
  cleanup?(): void;
  /** The connection is gone: stop timers, forget held data. */
  dispose(): void;
}

export interface TcpToxic {
  readonly mode: 'tcp';
  readonly type: string;
  readonly doc: string;
  readonly attributes: Record<string, AttributeSpec>;
  /**
   * True when these (effective) attributes make the toxic do nothing at all (latency 0 without
   * jitter): the connection then links no stage for it, and its bytes take the direct path.
   */
  inert?(attributes: Attributes): boolean;
  /** State that survives an update of the toxic on a live connection (limit_data's byte count). */
  newState?(): unknown;
  createStage(attributes: Attributes, ctx: StageContext, state: unknown): Stage;
}

/** An answer the proxy gives in place of the upstream's; the connection frames it (length, keep-alive, HEAD). */
export interface HttpAnswer {
  status: number;
  /** Header fields besides Content-Length and Connection, lowercase names. */
  headers: Record<string, string>;
  body: string;
}

/**
 * A toxic that cuts a response short. Before bytes of the response go to the client the connection
 * asks each cut how many of them may go: undefined lets them all through; a number lets that many
 * go, and then the connection is reset (RST) with the response incomplete.
 */
export interface ResponseCut {
  /** `bytes` of the head (`last`: no body follows it) or of the body (`last`: they end it). */
  allow(bytes: number, part: 'head' | 'body', last: boolean): number | undefined;
}

/** What the proxy does with one HTTP request; each HTTP toxic the roll picked adds to it. */
export interface RequestPlan {
  /** Hold the request this long before forwarding it. */
  requestDelayMs: number;
  /** Hold the response head this long. */
  responseDelayMs: number;
  /** Answer with this instead of forwarding the request (the first toxic to set it wins). */
  answer: HttpAnswer | undefined;
  /** Withhold the response; close the connection after this long (0: never; -1: no stall). */
  stallMs: number;
  /** Cuts of the response, each asked before its bytes go. */
  cuts: ResponseCut[];
}

export function emptyPlan(): RequestPlan {
  return { requestDelayMs: 0, responseDelayMs: 0, answer: undefined, stallMs: -1, cuts: [] };
}

/** What a toxic sees of the request it acts on. */
export interface RequestHead {
  readonly method: string;
}

/**
 * A per-request toxic: its file holds all it does. It adds its fault to the plan of a request its
 * roll picked, with the primitives the connection carries out (delays, an answer, a stall, cuts).
 */
export interface HttpToxic {
  readonly mode: 'http';
  readonly type: string;
  readonly doc: string;
  readonly attributes: Record<string, AttributeSpec>;
  /** Add this toxic's fault to the plan of a request its toxicity roll picked. */
  apply(attributes: Attributes, stream: Stream, plan: RequestPlan, request: RequestHead): void;
}

export type ToxicDefinition = TcpToxic | HttpToxic;

/** A stage that lets everything through: the base of every TCP toxic. */
export class PassStage implements Stage {
  next!: Sink;
  push(chunk: Buffer): void {
    this.next.push(chunk);
  }
  end(): void {
    this.next.end();
  }
  close(): void {
    this.next.close();
  }
  interrupt(): void {}
  dispose(): void {}
}

/**
 * Latency ± jitter in ms, uniform over [latency - jitter, latency + jitter) and not in whole
 * milliseconds: Toxiproxy draws it in nanoseconds (rand.Int63n(2*jitter) - jitter).
 */
export function jittered(latencyMs: number, jitterMs: number): number {
  return jitterMs > 0 ? latencyMs + (Math.random() * 2 - 1) * jitterMs : latencyMs;
}
