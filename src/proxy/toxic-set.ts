// One proxy's toxics: validation of their JSON as Toxiproxy's ToxicCollection does it, unique names
// across both streams, order per stream, and change events that live connections follow.

import {
  badRequestBody,
  invalidStream,
  invalidToxicType,
  toxicAlreadyExists,
  toxicNotFound,
} from './api-error.ts';
import { findToxic, toxicsOf, type ProxyMode } from './toxics/index.ts';
import type { Attributes, Stream, ToxicDefinition } from './toxics/toxic.ts';
import { isObject, jsonType } from './json.ts';

/** A toxic as the API shows it; field order as Toxiproxy's JSON. */
export interface ToxicJson {
  attributes: Attributes;
  name: string;
  type: string;
  stream: Stream;
  toxicity: number;
}

/** A toxic as configured: every field but type is optional (name <type>_<stream>, downstream, toxicity 1). */
export interface ToxicConfig {
  name?: string;
  type: string;
  stream?: Stream;
  toxicity?: number;
  attributes?: Record<string, number>;
}

export class ToxicEntry {
  readonly name: string;
  readonly type: string;
  readonly stream: Stream;
  readonly definition: ToxicDefinition;
  toxicity: number;
  attributes: Attributes;
  /** Connections whose roll picked this toxic (TCP mode). */
  connectionsAffected = 0;
  /** Requests whose roll picked this toxic (HTTP mode). */
  requestsAffected = 0;

  constructor(name: string, stream: Stream, definition: ToxicDefinition, toxicity: number, attributes: Attributes) {
    this.name = name;
    this.type = definition.type;
    this.stream = stream;
    this.definition = definition;
    this.toxicity = toxicity;
    this.attributes = attributes;
  }

  toJSON(): ToxicJson {
    return { attributes: { ...this.attributes }, name: this.name, type: this.type, stream: this.stream, toxicity: this.toxicity };
  }
}

export type ToxicChange =
  | { kind: 'add'; entry: ToxicEntry }
  | { kind: 'update'; entry: ToxicEntry }
  | { kind: 'remove'; entry: ToxicEntry };

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into field ${key} of type string`);
  return v;
}

function parseToxicity(v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into field toxicity of type float32`);
  if (v < 0 || v > 1) throw badRequestBody(`toxicity must be between 0 and 1, not ${v}`);
  return v;
}

/** Attributes of a definition: given values over `base` (defaults, or the current ones on update). */
function parseAttributes(def: ToxicDefinition, v: unknown, base: Attributes): Attributes {
  if (v === undefined || v === null) return { ...base };
  if (!isObject(v)) throw badRequestBody(`json: cannot unmarshal ${jsonType(v)} into field attributes of type object`);
  const out = { ...base };
  for (const [key, spec] of Object.entries(def.attributes)) {
    const raw = v[key];
    if (raw === undefined) continue;
    if (typeof raw !== 'number' || !Number.isInteger(raw)) {
      throw badRequestBody(`json: cannot unmarshal ${typeof raw === 'number' ? `number ${raw}` : jsonType(raw)} into field attributes.${key} of type int64`);
    }
    if ((spec.min !== undefined && raw < spec.min) || (spec.max !== undefined && raw > spec.max)) {
      const range = spec.max === undefined ? `at least ${spec.min}` : `between ${spec.min ?? 0} and ${spec.max}`;
      throw badRequestBody(`attributes.${key} must be ${range}, not ${raw}`);
    }
    out[key] = raw;
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
export function parseToxic(mode: ProxyMode, input: unknown, exists: (name: string) => boolean = () => false): ToxicEntry {
  if (!isObject(input)) throw badRequestBody(`json: cannot unmarshal ${jsonType(input)} into a toxic (an object)`);
  const rawStream = optionalString(input, 'stream');
  const type = optionalString(input, 'type') ?? '';
  let name = optionalString(input, 'name');
  const toxicity = parseToxicity(input.toxicity, 1);
  const streamText = rawStream === undefined ? 'downstream' : rawStream.toLowerCase();
  if (streamText !== 'upstream' && streamText !== 'downstream') throw invalidStream();
  const stream: Stream = streamText;
  if (!name) name = `${type}_${stream}`;
  const def = findToxic(mode, type);
  if (!def) {
    const other = findToxic(mode === 'tcp' ? 'http' : 'tcp', type);
    throw invalidToxicType(
      other ? `${type} needs a proxy in ${other.mode} mode` : undefined,
    );
  }
  if (exists(name)) throw toxicAlreadyExists();
  const attributes = parseAttributes(def, input.attributes, defaults(def));
  return new ToxicEntry(name, stream, def, toxicity, attributes);
}

/** The types a mode offers, for messages. */
export function toxicTypes(mode: ProxyMode): string {
  return toxicsOf(mode).map((t) => t.type).join(', ');
}

export class ToxicSet {
  readonly mode: ProxyMode;
  private entries: ToxicEntry[] = [];
  private readonly listeners = new Set<(change: ToxicChange) => void>();

  constructor(mode: ProxyMode) {
    this.mode = mode;
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

  add(input: unknown): ToxicEntry {
    const entry = parseToxic(this.mode, input, (name) => this.get(name) !== undefined);
    this.entries.push(entry);
    this.emit({ kind: 'add', entry });
    return entry;
  }

  /** Toxiproxy's UpdateToxicJson: attributes merged over the current ones, toxicity kept unless given. */
  update(name: string, input: unknown): ToxicEntry {
    const entry = this.get(name);
    if (!entry) throw toxicNotFound();
    if (!isObject(input)) throw badRequestBody(`json: cannot unmarshal ${jsonType(input)} into a toxic (an object)`);
    const attributes = parseAttributes(entry.definition, input.attributes, entry.attributes);
    const toxicity = parseToxicity(input.toxicity, entry.toxicity);
    entry.attributes = attributes;
    entry.toxicity = toxicity;
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
