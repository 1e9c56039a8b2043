// One bench engine on a worker thread (-w N): runs its share of the connections and posts a result.

import { parentPort, workerData } from 'node:worker_threads';
import { p99OfEncoded } from './recorder.ts';
import { Engine, type EngineConfig } from './engine.ts';
import { parseTarget } from './target.ts';
import { engineResult } from './summarize.ts';

interface Data {
  config: Omit<EngineConfig, 'target' | 'onSecond' | 'onMeasuring'> & { url: string; address: string };
  mode: 'keepalive' | 'close';
  method: string;
}

const { config, mode, method } = workerData as Data;
const target = { ...parseTarget(config.url), host: config.address };
const engine = new Engine({
  ...config,
  target,
  onSecond: (rec) => {
    const last = rec.timeline.at(-1);
    parentPort!.postMessage({
      type: 'second',
      completed: rec.completed,
      failed: rec.failed,
      connectErrors: rec.connectErrors,
      lastRequests: last?.requests ?? 0,
      lastP99: p99OfEncoded(last?.histogram),
    });
  },
  onMeasuring: (atMs) => parentPort!.postMessage({ type: 'measuring', measuredFromMs: atMs }),
});
parentPort!.on('message', (m: string) => {
  if (m === 'stop') engine.stop();
});
try {
  await engine.run();
  const result = engineResult(engine, { target: config.url, mode, method });
  parentPort!.postMessage({ type: 'result', result, measuredFromMs: engine.measuredFromMs });
} catch (err) {
  parentPort!.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
