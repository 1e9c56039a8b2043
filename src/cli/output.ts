// Writing results to stdout: quiet exit when the reader goes away (| head), progress only on a TTY.

let installed = false;

/** Exit quietly when stdout's reader closes early, as `tcplens sockets | head` does. */
export function handleClosedStdout(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export function out(text: string): void {
  process.stdout.write(text);
}

/** A one-line progress indicator on stderr, shown only when stderr is a terminal. */
export function progress(text: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r\x1b[2K${text}`);
}

export function clearProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}

/** Sleep that Ctrl-C can interrupt (the default SIGINT handler ends the process). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
