// `tcplens trace`: being built (see its issue); registers nothing yet.

import type { Command } from 'commander';

export function registerTrace(_program: Command): void {}
