// A proxy's counters when several threads carry its connections: one block of shared memory with a
// row of counters per thread, each thread writing only its own row (plain stores, no atomics on the
// hot path) and the main thread summing the rows when it reports. Also the one count that must be
// exact across threads: connections open now, against max_connections.

import { newCounters, type ProxyCounters } from './connection.ts';

const FIELDS = Object.keys(newCounters()) as (keyof ProxyCounters)[];
const ROW_BYTES = FIELDS.length * Float64Array.BYTES_PER_ELEMENT;

/** The shared memory of one proxy: `slots` rows of counters, then the open-connection gate. */
export interface CounterBlock {
  readonly memory: SharedArrayBuffer;
  readonly slots: number;
}

export function newCounterBlock(slots: number): CounterBlock {
  return { memory: new SharedArrayBuffer(slots * ROW_BYTES + Int32Array.BYTES_PER_ELEMENT), slots };
}

/** One thread's row, read and written like the plain counters object. */
class RowCounters {
  readonly row: Float64Array;
  constructor(row: Float64Array) {
    this.row = row;
  }
}
for (const [i, field] of FIELDS.entries()) {
  Object.defineProperty(RowCounters.prototype, field, {
    get(this: RowCounters) {
      return this.row[i];
    },
    set(this: RowCounters, v: number) {
      this.row[i] = v;
    },
  });
}

/** The counters thread `slot` bumps. */
export function rowCounters(block: CounterBlock, slot: number): ProxyCounters {
  return new RowCounters(new Float64Array(block.memory, slot * ROW_BYTES, FIELDS.length)) as unknown as ProxyCounters;
}

/** Every thread's rows summed, as a plain object. */
export function totalCounters(block: CounterBlock): ProxyCounters {
  const all = new Float64Array(block.memory, 0, block.slots * FIELDS.length);
  const out = newCounters();
  for (let s = 0; s < block.slots; s++)
    for (const [i, field] of FIELDS.entries()) out[field] += all[s * FIELDS.length + i]!;
  return out;
}

/** Connections open now in all threads, changed with Atomics: a thread admits one only under the cap. */
export function connectionGate(block: CounterBlock): Int32Array {
  return new Int32Array(block.memory, block.slots * ROW_BYTES, 1);
}
