// The registry of toxics by mode and type name: Toxiproxy's eight for TCP (noop included), four
// per-request ones for HTTP and noop.

import type { HttpToxic, TcpToxic, ToxicDefinition } from './toxic.ts';
import { latency } from './latency.ts';
import { bandwidth } from './bandwidth.ts';
import { slowClose } from './slow-close.ts';
import { timeout } from './timeout.ts';
import { resetPeer } from './reset-peer.ts';
import { slicer } from './slicer.ts';
import { limitData } from './limit-data.ts';
import { httpLatency } from './http-latency.ts';
import { httpStatus } from './http-status.ts';
import { httpResetBody } from './http-reset-body.ts';
import { httpStall } from './http-stall.ts';
import { httpNoop, noop } from './noop.ts';

export type ProxyMode = 'tcp' | 'http';

const TCP: readonly TcpToxic[] = [latency, bandwidth, slowClose, timeout, resetPeer, slicer, limitData, noop];
const HTTP: readonly HttpToxic[] = [httpLatency, httpStatus, httpResetBody, httpStall, httpNoop];

const REGISTRY: Record<ProxyMode, ReadonlyMap<string, ToxicDefinition>> = {
  tcp: new Map(TCP.map((t) => [t.type, t])),
  http: new Map(HTTP.map((t) => [t.type, t])),
};

export function findToxic(mode: ProxyMode, type: string): ToxicDefinition | undefined {
  return REGISTRY[mode].get(type);
}

/** The toxics of a mode, for --help and error messages. */
export function toxicsOf(mode: ProxyMode): ToxicDefinition[] {
  return [...REGISTRY[mode].values()];
}
