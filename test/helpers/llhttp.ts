// Node's own HTTP response parser (llhttp, reached through node-internals), wired once: the
// reference the hand-written response parser is checked against, and the canary that checks the
// internal API is still there.

import { nodeHttpParser } from '../../src/node-internals.ts';

export interface LlhttpCallbacks {
  /** A response head; return true when the response has no body (the answer to a HEAD). */
  head(status: number, keepAlive: boolean): boolean;
  body(bytes: Buffer): void;
  complete(): void;
}

/** Feed `bytes` to a fresh llhttp response parser, then finish it. True when llhttp found an error. */
export function llhttpParse(bytes: Buffer, on: LlhttpCallbacks): boolean {
  const HTTPParser = nodeHttpParser();
  if (!HTTPParser) throw new Error("require('_http_common').HTTPParser is gone");
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {});
  parser[HTTPParser.kOnHeadersComplete] = (
    _maj: number,
    _min: number,
    _h: unknown,
    _m: unknown,
    _u: unknown,
    status: number,
    _sm: unknown,
    _up: unknown,
    keepAlive: boolean,
  ) => (on.head(status, keepAlive) ? 1 : 0);
  parser[HTTPParser.kOnBody] = (b: Buffer) => on.body(b);
  parser[HTTPParser.kOnMessageComplete] = () => on.complete();
  const r = parser.execute(bytes);
  return r instanceof Error || parser.finish() instanceof Error;
}
