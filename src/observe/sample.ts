// The host sample as the exporter and the dashboard read it: the one host snapshot of src/host/,
// under the names these readers have always imported.

export { DEFAULT_TOP_N, MAX_TOP_N, takeHostSample } from '../host/sample.ts';
export type {
  ClosingSample,
  EphemeralSample,
  HostSample,
  PeerRtt,
  SampleFindings,
  SampleOptions,
  StateBreakdown,
  TopList,
} from '../host/sample.ts';
export { createSampler } from '../host/sampler.ts';
export type { Sampler, SamplerOptions } from '../host/sampler.ts';
