import { test } from 'node:test';
import assert from 'node:assert/strict';

test('the public API loads and exposes each command as a library call', async () => {
  const api = await import('../src/index.ts');
  for (const name of [
    'querySockets',
    'readCounters',
    'readProcNetTcp',
    'runBench',
    'mergeResults',
    'observeConnections',
    'hardenServer',
    'gracefulShutdown',
    'startWorkers',
    'createTlsServer',
    'debugRoutes',
    'createPool',
    'probe',
    'createProxyServer',
    'createSampler',
    'takeHostSample',
    'createHostMetrics',
    'startExporter',
    'startDashboard',
    'startTrace',
    'summarizeTrace',
  ]) {
    assert.equal(typeof (api as Record<string, unknown>)[name], 'function', name);
  }
});
