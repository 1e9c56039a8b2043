// Pieces of our self-contained HTML reports: assets inlined from packages, text escaped.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A file of an installed package (uPlot's script and styles), to inline so a report needs no network. */
export function asset(path: string): string {
  return readFileSync(require.resolve(path), 'utf8');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
