// status in HTTP mode: the proxy answers a request the roll picks itself (503 by default, 429 with
// Retry-After…); the request never reaches the upstream, and keep-alive is kept.

import { STATUS_CODES } from 'node:http';
import type { HttpToxic } from './toxic.ts';

export const httpStatus: HttpToxic = {
  mode: 'http',
  type: 'status',
  doc: 'answer with this status code instead of forwarding the request',
  attributes: {
    code: { default: 503, unit: 'count', min: 200, max: 599, doc: 'status code of the answer' },
    retry_after: { default: 0, unit: 'count', doc: 's in a Retry-After header; 0: no header' },
  },
  apply(a, _stream, plan) {
    if (plan.answer) return;
    const code = a.code!;
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (a.retry_after! > 0) headers['retry-after'] = String(a.retry_after);
    headers['x-tcplens-fault'] = 'status';
    plan.answer = {
      status: code,
      headers,
      body: `${code} ${STATUS_CODES[code] ?? 'Unknown'} (injected by tcplens proxy)\n`,
    };
  },
};
