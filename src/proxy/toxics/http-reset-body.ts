// reset_body in HTTP mode: the response head and body_bytes of its body get through, then RST;
// the response is never complete (its last byte never goes, however short the body).

import type { HttpToxic, ResponseCut } from './toxic.ts';

class ResetAfterBody implements ResponseCut {
  /** Body bytes still let through. */
  private left: number;
  constructor(bodyBytes: number) {
    this.left = bodyBytes;
  }
  allow(bytes: number, part: 'head' | 'body', last: boolean): number | undefined {
    if (part === 'head') {
      // Nothing to cut but the head itself: it never arrives whole. With 0 body bytes, after the head.
      if (last) return bytes - 1;
      return this.left === 0 ? bytes : undefined;
    }
    const allowed = Math.min(this.left, last ? bytes - 1 : bytes);
    this.left -= allowed;
    return this.left > 0 && !last ? undefined : Math.max(0, allowed);
  }
}

export const httpResetBody: HttpToxic = {
  mode: 'http',
  type: 'reset_body',
  doc: 'RST in the middle of the response body, after body_bytes bytes of it',
  attributes: { body_bytes: { default: 0, unit: 'count', doc: 'bytes of the body let through before the RST' } },
  apply(a, _stream, plan) {
    plan.cuts.push(new ResetAfterBody(a.body_bytes!));
  },
};
