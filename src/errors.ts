// Typed errors with messages a user can act on; only the CLI turns them into a line and an exit code.

export class TcplensError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The user asked for something that cannot be: bad flag, value out of range. Exit 2. */
export class UsageError extends TcplensError {
  override readonly exitCode = 2;
}

/** An input is larger than what is accepted (bytes, entries, nesting): HTTP 413 for a server. Exit 2. */
export class TooLargeError extends UsageError {}

/** The operation needs privileges this process does not have. Exit 1. */
export class PermissionError extends TcplensError {}

/** The kernel interface needed is not there (not Linux, /proc not mounted, knob missing). Exit 1. */
export class UnsupportedPlatformError extends TcplensError {}

/** A kernel file could not be read or made no sense. Exit 1. */
export class KernelReadError extends TcplensError {}

/** Describe a Node system error (ENOENT, EACCES, …) for a path in one line. */
export function describeFsError(err: unknown, path: string): TcplensError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new UnsupportedPlatformError(
      `${path} does not exist: tcplens needs Linux with /proc mounted (this is ${process.platform})`,
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PermissionError(`cannot read ${path}: permission denied`);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new KernelReadError(`cannot read ${path}: ${msg}`);
}

/** Netlink sock_diag cannot be used here (FFI not loadable, netlink refused, inet_diag missing). Exit 1. */
export class NetlinkUnavailableError extends UnsupportedPlatformError {}
