// stall in HTTP mode: the response never comes; after timeout ms the connection is closed
// (0: it stays open until the client gives up).

import type { HttpToxic } from './toxic.ts';

export const httpStall: HttpToxic = {
  mode: 'http',
  type: 'stall',
  doc: 'withhold the response; close the connection after timeout ms (0: never)',
  attributes: { timeout: { default: 0, unit: 'ms', doc: 'ms until the connection is closed; 0: never' } },
  apply(a, _stream, plan) {
    plan.stallMs = plan.stallMs < 0 ? a.timeout! : Math.max(plan.stallMs, a.timeout!);
  },
};
