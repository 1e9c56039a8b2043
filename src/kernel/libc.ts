// The C library's socket calls through koffi (an FFI with prebuilt binaries in its npm package):
// the only module that loads it, so a bundle or a single executable has one place to adapt.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NetlinkUnavailableError } from '../errors.ts';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  close(fd: number): number;
  /** poll(2) over `count` struct pollfd (8 bytes each: int fd, short events, short revents). */
  poll(fds: Uint8Array, count: number, timeoutMs: number): number;
  /** prctl(2) with one unsigned long argument. */
  prctl(option: number, argType: 'unsigned long', arg: number): number;
  /** errno after the last call that failed. */
  errno(): number;
}

interface Koffi {
  load(path: string): { func(definition: string): (...args: unknown[]) => unknown };
  errno(): number;
}

let loaded: Libc | NetlinkUnavailableError | undefined;

/**
 * Load koffi and bind the calls, once per process; throws NetlinkUnavailableError saying why it
 * cannot (no prebuilt binary for this platform, musl, no libstdc++). TCPLENS_NETLINK_FAULT=koffi
 * asks for a module that does not exist, so that the real failure path runs in tests.
 */
export function loadLibc(): Libc {
  if (loaded === undefined) {
    try {
      loaded = bind();
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      loaded = new NetlinkUnavailableError(`the FFI module koffi cannot load (${first})`);
    }
  }
  if (loaded instanceof Error) throw loaded;
  return loaded;
}

function bind(): Libc {
  const require = createRequire(import.meta.url);
  const name = process.env.TCPLENS_NETLINK_FAULT === 'koffi' ? 'koffi-absent-on-purpose' : 'koffi';
  const koffi = (name === 'koffi' && nativeKoffi(require)) || (require(name) as Koffi);
  const lib = koffi.load('libc.so.6');
  // koffi has no ssize_t: intptr_t has its size and sign on every Linux ABI.
  const socket = lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'];
  const send = lib.func('intptr_t send(int fd, void *buf, size_t len, int flags)') as Libc['send'];
  const recv = lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as Libc['recv'];
  const close = lib.func('int close(int fd)') as Libc['close'];
  const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)') as Libc['poll'];
  const prctl = lib.func('int prctl(int option, ...)') as Libc['prctl'];
  return { socket, send, recv, close, poll, prctl, errno: () => koffi.errno() };
}

const POLLOUT = 4;

/**
 * Waits until `fd` can take a write (a pipe's reader made room), at most timeoutMs; false when the
 * C library cannot be called here (the caller then waits its own way).
 */
export function waitWritable(fd: number, timeoutMs: number): boolean {
  let libc: Libc;
  try {
    libc = loadLibc();
  } catch {
    return false;
  }
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, isLittleEndian);
  view.setInt16(4, POLLOUT, isLittleEndian);
  libc.poll(pollfd, 1, timeoutMs);
  return true;
}

const PR_SET_TIMERSLACK = 29;

/**
 * Sets the calling thread's timer slack: how much later than asked the kernel may end its sleeps
 * (50 µs by default), so that it can batch wake-ups. False when the C library cannot be called here.
 */
export function setTimerSlackNs(ns: number): boolean {
  try {
    return loadLibc().prctl(PR_SET_TIMERSLACK, 'unsigned long', ns) === 0;
  } catch {
    return false;
  }
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * koffi's prebuilt binary for glibc Linux on x64 or arm64, loaded straight from the package koffi
 * depends on for it: koffi's own loader (which finds the same file after telling glibc from musl by
 * reading node's ELF headers, and wraps deprecated calls) costs several times the load itself, a
 * share a short `tcplens sockets` run notices. Anywhere else, or if anything is unusual (a musl
 * loader present, the package elsewhere), undefined: koffi's loader decides.
 */
function nativeKoffi(require: NodeJS.Require): Koffi | undefined {
  const cpu = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
  if (process.platform !== 'linux' || cpu === undefined || existsSync(`/lib/ld-musl-${cpu}.so.1`)) return undefined;
  try {
    const fromKoffi = createRequire(require.resolve('koffi'));
    const file = fromKoffi.resolve(`@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`);
    const module = { exports: {} as Koffi };
    process.dlopen(module, file);
    return typeof module.exports.load === 'function' ? module.exports : undefined;
  } catch {
    return undefined;
  }
}
