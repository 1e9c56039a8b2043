// The C library's socket calls through koffi (an FFI with prebuilt binaries in its npm package):
// the only module that loads it, so a bundle or a single executable has one place to adapt.

import { createRequire } from 'node:module';
import { NetlinkUnavailableError } from '../errors.ts';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  close(fd: number): number;
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
  const koffi = require(name) as Koffi;
  const lib = koffi.load('libc.so.6');
  // koffi has no ssize_t: intptr_t has its size and sign on every Linux ABI.
  const socket = lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'];
  const send = lib.func('intptr_t send(int fd, void *buf, size_t len, int flags)') as Libc['send'];
  const recv = lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as Libc['recv'];
  const close = lib.func('int close(int fd)') as Libc['close'];
  return { socket, send, recv, close, errno: () => koffi.errno() };
}
