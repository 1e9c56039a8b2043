// reset_body in HTTP mode: the response head and body_bytes of its body get through, then RST;
// the response is never complete.

import type { HttpToxic } from './toxic.ts';

export const httpResetBody: HttpToxic = {
  mode: 'http',
  type: 'reset_body',
  doc: 'RST in the middle of the response body, after body_bytes bytes of it',
  attributes: { body_bytes: { default: 0, unit: 'count', doc: 'bytes of the body let through before the RST' } },
  apply(a, _stream, plan) {
    plan.resetAfterBodyBytes = plan.resetAfterBodyBytes < 0 ? a.body_bytes! : Math.min(plan.resetAfterBodyBytes, a.body_bytes!);
  },
};
