// `tcplens proxy`: being built (see its issue); registers nothing yet.

import type { Command } from 'commander';

export function registerProxy(_program: Command): void {}
