// `tcplens lab`: being built (see its issue); registers nothing yet.

import type { Command } from 'commander';

export function registerLab(_program: Command): void {}
