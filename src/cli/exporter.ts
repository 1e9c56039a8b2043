// `tcplens exporter`: being built (see its issue); registers nothing yet.

import type { Command } from 'commander';

export function registerExporter(_program: Command): void {}
