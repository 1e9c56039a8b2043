// noop: does nothing (Toxiproxy's NoopToxic, which clients use to check a proxy's toxic handling).

import { PassStage, type HttpToxic, type TcpToxic } from './toxic.ts';

export const noop: TcpToxic = {
  mode: 'tcp',
  type: 'noop',
  doc: 'nothing: every byte passes as it came',
  attributes: {},
  inert: () => true,
  createStage: () => new PassStage(),
};

export const httpNoop: HttpToxic = {
  mode: 'http',
  type: 'noop',
  doc: 'nothing: every request passes as it came',
  attributes: {},
  apply() {},
};
