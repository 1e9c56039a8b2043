// The lab's experiments by id, in the order `lab list` and `lab run` use.

import type { Experiment, ExperimentId } from './experiment.ts';
import { experiment as e1 } from './experiments/e1-keepalive.ts';
import { experiment as e2 } from './experiments/e2-time-wait.ts';
import { experiment as e3 } from './experiments/e3-queue-overflow.ts';
import { experiment as e4 } from './experiments/e4-resets.ts';
import { experiment as e5 } from './experiments/e5-server-timeouts.ts';
import { experiment as e6 } from './experiments/e6-reuseport.ts';
import { experiment as e7 } from './experiments/e7-pool.ts';
import { experiment as e8 } from './experiments/e8-tls.ts';
import { experiment as e9 } from './experiments/e9-chaos.ts';

export const EXPERIMENTS: readonly Experiment[] = [e1, e2, e3, e4, e5, e6, e7, e8, e9];

export function findExperiment(id: string): Experiment | undefined {
  const want = id.toUpperCase() as ExperimentId;
  return EXPERIMENTS.find((e) => e.id === want);
}
