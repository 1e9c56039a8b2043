// Waiting for Ctrl-C or a supervisor's SIGTERM in a long-running command.

/**
 * Resolves at the first SIGINT or SIGTERM. The handlers are in place when this returns, so call it
 * before printing the address: whoever signals as soon as it reads the address (a supervisor, a
 * test) must meet them, not the default action, which ends the process at once.
 */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
