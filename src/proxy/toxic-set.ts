// One proxy's toxics: validation of their JSON as Toxiproxy's ToxicCollection does it, unique names
// across both streams, order per stream, and change events that live connections follow.

import { badRequestBody, invalidStream, invalidToxicType, toxicAlreadyExists, toxicNotFound } from './api-error.ts';
import { findToxic, toxicsOf, type ProxyMode } from './toxics/index.ts';
import {
  MAX_TIMER_MS,
  type AttributeSpec,
  type Attributes,
  type Stream,
  type ToxicDefinition,
} from './toxics/toxic.ts';
import { type ClientFilter, parseClients } from './client-filter.ts';
import {
  MAX_INTEGER,
  MAX_NAME_BYTES,
  float32Value,
  integerValue,
  isObject,
  jsonType,
  member,
  objectOf,
  stringField,
} from './json.ts';

/** A toxic as the API shows it; field order as Toxiproxy's JSON. */
export interface ToxicJson {
  attributes: Attributes;
  name: string;
  type: string;
  /** As given ("UPSTREAM" stays so, as Toxiproxy echoes it). */
  stream: string;
  toxicity: number;
  /** Only connections from these addresses or CIDR blocks; absent: every client. */
  clients?: string[];
}

/** A toxic as configured: every field but type is optional (name <type>_<stream>, downstream, toxicity 1). */
export interface ToxicConfig {
  name?: string;
  type: string;
  stream?: Stream;
  toxicity?: number;
  attributes?: Record<string, number>;
  /** Only connections from these addresses or CIDR blocks ("127.0.0.2", "10.0.0.0/8"). */
  clients?: string[];
}

export class ToxicEntry {
  readonly name: string;
  readonly type: string;
  readonly stream: Stream;
  /** The stream as the client spelt it. */
  readonly streamName: string;
  readonly definition: ToxicDefinition;
  toxicity: number;
  /** As given, and as the API shows them. */
  attributes: Attributes;
  /** As the toxic carries them out: clamped once here, so that no stage checks them per chunk. */
  effective: Attributes;
  /**
   * Connections (TCP mode) and requests (HTTP mode) whose roll picked this toxic: a pair per thread
   * that carries connections, in memory shared between them when there are several; this thread's
   * pair at `slot`.
   */
  counts: Float64Array = new Float64Array(2);
  slot = 0;
  /** The clients it applies to; undefined: all. */
  clients: ClientFilter | undefined;

  constructor(
    name: string,
    stream: Stream,
    definition: ToxicDefinition,
    toxicity: number,
    attributes: Attributes,
    streamName: string = stream,
    clients?: ClientFilter,
  ) {
    this.clients = clients;
    this.name = name;
    this.type = definition.type;
    this.stream = stream;
    this.streamName = streamName;
    this.definition = definition;
    this.toxicity = toxicity;
    this.attributes = attributes;
    this.effective = effectiveAttributes(definition, attributes);
  }

  /** A connection's roll picked the toxic. */
  affectConnection(): void {
    this.counts[2 * this.slot]!++;
  }

  /** A request's roll picked the toxic. */
  affectRequest(): void {
    this.counts[2 * this.slot + 1]!++;
  }

  /** Connections whose roll picked the toxic, in every thread (TCP mode). */
  get connectionsAffected(): number {
    let n = 0;
    for (let i = 0; i < this.counts.length; i += 2) n += this.counts[i]!;
    return n;
  }

  /** Requests whose roll picked the toxic, in every thread (HTTP mode). */
  get requestsAffected(): number {
    let n = 0;
    for (let i = 1; i < this.counts.length; i += 2) n += this.counts[i]!;
    return n;
  }

  set(attributes: Attributes, toxicity: number): void {
    this.attributes = attributes;
    this.effective = effectiveAttributes(this.definition, attributes);
    this.toxicity = toxicity;
  }

  /**
   * Whether a connection from this client is one the toxic may hit (its toxicity still decides). The
   * address is read only for a toxic limited to some clients.
   */
  appliesTo(client: { readonly remoteAddress?: string | undefined }): boolean {
    return this.clients === undefined || this.clients.matches(client.remoteAddress);
  }

  toJSON(): ToxicJson {
    const json: ToxicJson = {
      attributes: { ...this.attributes },
      name: this.name,
      type: this.type,
      stream: this.streamName,
      toxicity: this.toxicity,
    };
    if (this.clients) json.clients = [...this.clients.list];
    return json;
  }
}

export type ToxicChange =
  | { kind: 'add'; entry: ToxicEntry }
  | { kind: 'update'; entry: ToxicEntry }
  | { kind: 'remove'; entry: ToxicEntry };

/** What each unit can carry out: no negative waits or sizes (Toxiproxy treats them as none), no wait past setTimeout's. */
const CARRIED: Record<AttributeSpec['unit'], number> = {
  ms: MAX_TIMER_MS,
  us: MAX_TIMER_MS * 1000,
  count: MAX_INTEGER,
};

function effectiveAttributes(def: ToxicDefinition, given: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, spec] of Object.entries(def.attributes))
    out[key] = Math.min(CARRIED[spec.unit], Math.max(0, given[key] ?? spec.default));
  return out;
}

function parseToxicity(v: unknown, fallback: number, goField: string): number {
  return v === undefined || v === null ? fallback : float32Value(v, goField);
}

/** What Toxiproxy decodes the body of a toxic's update into, for its error messages. */
const UPDATE = 'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }';

/** The Go struct of a toxic's attributes in Toxiproxy ("LatencyToxic"), for its error messages. */
function goStruct(type: string): string {
  if (type === 'reset_peer') return 'ResetToxic';
  return `${type.replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase())}Toxic`;
}

/**
 * Attributes of a definition: given values over `base` (defaults, or the current ones on update);
 * other keys are ignored, as Toxiproxy ignores them. `goField` names the attributes in a type error:
 * Toxiproxy decodes a new toxic's wrapper with a noop toxic in it first, an update straight into the type.
 */
function parseAttributes(def: ToxicDefinition, v: unknown, base: Attributes, goField: string): Attributes {
  if (v === undefined || v === null) return { ...base };
  if (!isObject(v)) throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${goField}`);
  const out = { ...base };
  for (const [key, spec] of Object.entries(def.attributes)) {
    const raw = member(v, key);
    if (raw === undefined) continue;
    out[key] = integerValue(raw, `attributes.${key}`, `${goStruct(def.type)}.attributes.${key}`, spec.min, spec.max);
  }
  return out;
}

function defaults(def: ToxicDefinition): Attributes {
  const out: Attributes = {};
  for (const [key, spec] of Object.entries(def.attributes)) out[key] = spec.default;
  return out;
}

/**
 * Parse a toxic's JSON for a proxy of `mode`, throwing ApiError with Toxiproxy's codes in its order:
 * body, stream, type, duplicate name (`exists`), attributes.
 */
export function parseToxic(
  mode: ProxyMode,
  input: unknown,
  exists: (name: string) => boolean = () => false,
): ToxicEntry {
  objectOf(input, 'toxics.ToxicWrapper');
  const rawStream = stringField(input, 'ToxicWrapper', 'stream', undefined);
  const type = stringField(input, 'ToxicWrapper', 'type', '');
  let name = stringField(input, 'ToxicWrapper', 'name', undefined, MAX_NAME_BYTES);
  const toxicity = parseToxicity(member(input, 'toxicity'), 1, 'ToxicWrapper.toxicity');
  const streamName = rawStream ?? 'downstream';
  const streamText = streamName.toLowerCase();
  if (streamText !== 'upstream' && streamText !== 'downstream') throw invalidStream();
  const stream: Stream = streamText;
  if (!name) name = `${type}_${streamName}`;
  const def = findToxic(mode, type);
  if (!def) {
    const other = findToxic(mode === 'tcp' ? 'http' : 'tcp', type);
    throw invalidToxicType(other ? `${type} needs a proxy in ${other.mode} mode` : undefined);
  }
  if (exists(name)) throw toxicAlreadyExists();
  const attributes = parseAttributes(
    def,
    member(input, 'attributes'),
    defaults(def),
    'ToxicWrapper.attributes of type toxics.NoopToxic',
  );
  return new ToxicEntry(name, stream, def, toxicity, attributes, streamName, parseClients(member(input, 'clients')));
}

/** The types a mode offers, for messages. */
export function toxicTypes(mode: ProxyMode): string {
  return toxicsOf(mode)
    .map((t) => t.type)
    .join(', ');
}

/** Where a set's toxics keep their counts: `slots` threads share them, this one writes `slot`. */
export interface CountSlots {
  slots: number;
  slot: number;
}

export class ToxicSet {
  readonly mode: ProxyMode;
  private entries: ToxicEntry[] = [];
  private readonly listeners = new Set<(change: ToxicChange) => void>();
  private readonly share: CountSlots;

  constructor(mode: ProxyMode, share: CountSlots = { slots: 1, slot: 0 }) {
    this.mode = mode;
    this.share = share;
  }

  /** Follow changes (live connections re-link their chains); returns the unsubscribe. */
  subscribe(listener: (change: ToxicChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: ToxicChange): void {
    for (const l of this.listeners) l(change);
  }

  get(name: string): ToxicEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** In Toxiproxy's order: the upstream chain, then the downstream one, each in the order added. */
  list(): ToxicEntry[] {
    return [...this.forStream('upstream'), ...this.forStream('downstream')];
  }

  forStream(stream: Stream): ToxicEntry[] {
    return this.entries.filter((e) => e.stream === stream);
  }

  get size(): number {
    return this.entries.length;
  }

  /** `counts`: the memory another thread's copy of this toxic counts in, to count in too. */
  add(input: unknown, counts?: SharedArrayBuffer): ToxicEntry {
    const entry = parseToxic(this.mode, input, (name) => this.get(name) !== undefined);
    const { slots, slot } = this.share;
    if (counts) entry.counts = new Float64Array(counts);
    else if (slots > 1)
      entry.counts = new Float64Array(new SharedArrayBuffer(2 * slots * Float64Array.BYTES_PER_ELEMENT));
    entry.slot = slot;
    this.entries.push(entry);
    this.emit({ kind: 'add', entry });
    return entry;
  }

  /** Toxiproxy's UpdateToxicJson: attributes merged over the current ones, toxicity kept unless given. */
  update(name: string, input: unknown): ToxicEntry {
    const entry = this.get(name);
    if (!entry) throw toxicNotFound();
    objectOf(input, UPDATE);
    const attributes = parseAttributes(
      entry.definition,
      member(input, 'attributes'),
      entry.attributes,
      `.attributes of type toxics.${goStruct(entry.type)}`,
    );
    const clients = member(input, 'clients');
    // Given: replaced (null: every client again); absent: kept.
    if (clients !== undefined) entry.clients = parseClients(clients);
    entry.set(attributes, parseToxicity(member(input, 'toxicity'), entry.toxicity, '.toxicity'));
    this.emit({ kind: 'update', entry });
    return entry;
  }

  remove(name: string): void {
    const entry = this.get(name);
    if (!entry) throw toxicNotFound();
    this.entries = this.entries.filter((e) => e !== entry);
    this.emit({ kind: 'remove', entry });
  }

  reset(): void {
    for (const e of this.list()) this.remove(e.name);
  }
}
