// What every experiment's text must do in a terminal: fit 100 columns, with no row of mostly "-".

import assert from 'node:assert/strict';
import type { ExperimentResult } from '../../src/lab/experiment.ts';
import { MAX_TABLE_WIDTH, renderExperiment } from '../../src/render/lab.ts';

/** Tables within 100 columns (MAX_TABLE_WIDTH plus the 2-space indent); the wrapped prose is narrower. */
export function assertFitsTerminal(e: ExperimentResult): void {
  const text = renderExperiment(e, false);
  const widest = Math.max(...text.split('\n').map((l) => l.length));
  assert.ok(widest <= MAX_TABLE_WIDTH + 2 && widest <= 100, `${e.id}: ${widest} columns\n${text}`);
  assert.doesNotMatch(text, /^ {2}\S.*(?: {2}- +){3}/m, `${e.id}: a row of mostly "-"\n${text}`);
}
