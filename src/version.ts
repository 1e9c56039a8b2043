// tcplens's own version, from its package.json (one level up from src/ and from dist/ alike).

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
