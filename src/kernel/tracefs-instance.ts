// A private instance of the kernel's tracing ring buffer (tracefs instances/NAME): its own events,
// filters, clock and per-CPU buffers, read as binary pages, removed on close. Other tracers and
// other instances are not disturbed.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { parseHeaderPage, DEFAULT_PAGE_LAYOUT, type PageLayout } from './tracefs-ring.ts';
import { isProcessAlive } from './processes.ts';

/** One field of an event's record, from its format file. */
export interface FormatField {
  offset: number;
  size: number;
  signed: boolean;
}

/** The fields of an event's format file (events/SYSTEM/EVENT/format), by name (arrays by their name without [n]). */
export function parseEventFormat(text: string): { id: number; fields: Map<string, FormatField> } {
  const id = Number(/^ID:\s*(\d+)/m.exec(text)?.[1] ?? Number.NaN);
  const fields = new Map<string, FormatField>();
  for (const m of text.matchAll(/field:([^;]*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/g)) {
    const name = /([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$/.exec(m[1]!.trim())?.[1];
    if (name) fields.set(name, { offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1' });
  }
  return { id, fields };
}

export interface InstanceEvent {
  /** SYSTEM/EVENT, as under events/. */
  name: string;
  /** A filter in the kernel's event filter syntax, or '' for none. */
  filter: string;
}

export interface TracefsInstance {
  readonly name: string;
  readonly path: string;
  readonly cpus: number[];
  readonly layout: PageLayout;
  readonly pageSize: number;
  /** Reads what each CPU's buffer holds now, page by page, without waiting; each page is a buffer of its own, the caller's to keep. */
  drain(onPage: (cpu: number, page: Buffer, length: number) => void): void;
  /** Events the buffers lost so far (overrun + dropped events of every CPU's stats). */
  lostEvents(): number;
  /** Disables the events and removes the instance. */
  close(): void;
}

let serial = 0;

/** The CPUs that have a buffer in the instance (per_cpu/cpuN). */
function bufferCpus(path: string): number[] {
  return readdirSync(`${path}/per_cpu`)
    .map((d) => /^cpu(\d+)$/.exec(d))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

const PREFIX = 'tcplens-';

/** Ours, made by this process: any other instance named with our pid is a stale one (pids repeat across namespaces and reboots). */
const made = new Set<string>();

/**
 * `tcplens-<pid>-<serial>-<random>`: instances/ is the host's, pids are a namespace's, so two
 * containers' traces may have the same pid; the random part keeps their names apart.
 */
function instanceName(): string {
  return `${PREFIX}${process.pid}-${++serial}-${randomBytes(4).toString('hex')}`;
}

/**
 * Removes the instances of tcplens processes that are gone (killed before they could remove their
 * own). The kernel refuses to remove an instance while a reader holds its buffers open (EBUSY), so
 * one in use by a tcplens in another pid namespace, whose pid means nothing here, is left alone.
 */
export function removeStaleInstances(root: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(`${root}/instances`);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^tcplens-(\d+)-\d+(?:-[0-9a-f]+)?$/.exec(name);
    if (!m || made.has(name)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && isProcessAlive(pid)) continue;
    try {
      rmdirSync(`${root}/instances/${name}`);
      removed.push(name);
    } catch {
      // in use, or not ours to remove
    }
  }
  return removed;
}

export interface OpenInstanceOptions {
  /** The tracefs mount (where events/ is). */
  root: string;
  events: readonly InstanceEvent[];
  /** Per-CPU buffer size, KiB, or how to size it from the number of CPUs the instance has a buffer for. */
  bufferKb: number | ((cpus: number) => number);
}

/**
 * Creates a private instance with `events` enabled (each with its filter), the monotonic clock
 * (CLOCK_MONOTONIC, as bpftrace's nsecs) and no overwriting (a full buffer drops new events and
 * counts them), and opens each CPU's raw pipe. Throws (after removing what it made) when any step fails.
 */
export function openTracefsInstance(o: OpenInstanceOptions): TracefsInstance {
  removeStaleInstances(o.root);
  const name = instanceName();
  const path = `${o.root}/instances/${name}`;
  mkdirSync(path);
  made.add(name);
  const fds: number[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const e of o.events) {
      try {
        writeFileSync(`${path}/events/${e.name}/enable`, '0');
      } catch {
        // the instance is going anyway
      }
    }
    for (const fd of fds.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    // rmdir fails while a reader still holds a pipe open: the fds are closed above.
    for (let i = 0; i < 3; i++) {
      try {
        rmdirSync(path);
        made.delete(name);
        return;
      } catch {
        if (!existsSync(path)) {
          made.delete(name);
          return;
        }
      }
    }
  };
  try {
    // TCPLENS_TRACEFS=fault makes an instance that cannot be set up, so that the fallback runs in tests.
    if (process.env.TCPLENS_TRACEFS === 'fault')
      throw new Error('the instance cannot be set up (TCPLENS_TRACEFS=fault)');
    writeFileSync(`${path}/trace_clock`, 'mono');
    writeFileSync(`${path}/options/overwrite`, '0');
    // Every CPU of the instance gets a buffer of this size, whatever this process's affinity.
    const cpus = bufferCpus(path);
    const kb = typeof o.bufferKb === 'function' ? o.bufferKb(cpus.length) : o.bufferKb;
    writeFileSync(`${path}/buffer_size_kb`, String(kb));
    for (const e of o.events) {
      if (e.filter) writeFileSync(`${path}/events/${e.name}/filter`, e.filter);
    }
    let layout = DEFAULT_PAGE_LAYOUT;
    try {
      layout = parseHeaderPage(readFileSync(`${o.root}/events/header_page`, 'utf8'));
    } catch {
      // older kernels keep it elsewhere; the default is every 64-bit kernel's
    }
    let pageSize = 4096;
    try {
      pageSize = Number(readFileSync(`${path}/buffer_subbuf_size_kb`, 'utf8').trim()) * 1024 || 4096;
    } catch {
      // before Linux 6.8 a sub-buffer is a page
    }
    for (const cpu of cpus)
      fds.push(openSync(`${path}/per_cpu/cpu${cpu}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK));
    for (const e of o.events) writeFileSync(`${path}/events/${e.name}/enable`, '1');
    // A page read into a buffer of its own: its records are kept until the other CPUs' catch up.
    let page = Buffer.allocUnsafe(pageSize);
    return {
      name,
      path,
      cpus,
      layout,
      pageSize,
      drain(onPage) {
        for (let i = 0; i < fds.length; i++) {
          // Bounded: a buffer that fills faster than this reads is read again on the next drain.
          for (let n = 0; n < 4096; n++) {
            let got: number;
            try {
              got = readSync(fds[i]!, page, 0, pageSize, null);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
              throw err;
            }
            if (got <= 0) break;
            const full = page;
            page = Buffer.allocUnsafe(pageSize);
            onPage(cpus[i]!, full, got);
          }
        }
      },
      lostEvents() {
        let n = 0;
        for (const cpu of cpus) {
          try {
            const stats = readFileSync(`${path}/per_cpu/cpu${cpu}/stats`, 'utf8');
            n += Number(/^overrun:\s*(\d+)/m.exec(stats)?.[1] ?? 0);
            n += Number(/^dropped events:\s*(\d+)/m.exec(stats)?.[1] ?? 0);
          } catch {
            // closed meanwhile
          }
        }
        return n;
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
