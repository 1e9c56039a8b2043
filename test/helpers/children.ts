// Child processes a test starts never outlive the test process, however it ends: the runner forces
// its exit after a file's last test (--test-force-exit), and a timed-out test's `finally`, which
// would have stopped them, never runs.

import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
let hooked = false;

/** `child`, killed (SIGKILL) when this process exits if it is still running then. */
export function killOnExit<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!hooked) {
    hooked = true;
    // 'exit' handlers may only do synchronous work: a signal sent is all it takes.
    process.on('exit', () => {
      for (const c of running) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
  }
  return child;
}
