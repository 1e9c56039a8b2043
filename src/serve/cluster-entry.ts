// Entry of a cluster worker process started by startWorkers (fallback where SO_REUSEPORT is missing).

import { hostWorker } from './worker-host.ts';

const init = JSON.parse(process.env.TCPLENS_WORKER ?? '{}') as { module: string; data: unknown };
await hostWorker(
  {
    postMessage: (m) => process.send?.(m),
    on: (_e, f) => process.on('message', (m) => f(m as Record<string, unknown>)),
  },
  init,
);
