// Entry of a worker thread started by startWorkers (SO_REUSEPORT mode).

import { parentPort, workerData } from 'node:worker_threads';
import { hostWorker } from './worker-host.ts';

await hostWorker(parentPort!, workerData as { module: string; data: unknown });
