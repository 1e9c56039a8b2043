// latency in HTTP mode: a request the roll picks waits latency ± jitter ms — its response head is
// held (downstream, the default) or the request itself is (upstream).

import { jittered, type HttpToxic } from './toxic.ts';

export const httpLatency: HttpToxic = {
  mode: 'http',
  type: 'latency',
  doc: 'delay the response (downstream) or the request (upstream) by latency ± jitter ms',
  attributes: {
    latency: { default: 0, unit: 'ms', doc: 'ms added to the request' },
    jitter: { default: 0, unit: 'ms', doc: 'ms of uniform variation, ±' },
  },
  apply(a, stream, plan) {
    const ms = Math.max(0, jittered(a.latency!, a.jitter!));
    if (stream === 'upstream') plan.requestDelayMs += ms;
    else plan.responseDelayMs += ms;
  },
};
