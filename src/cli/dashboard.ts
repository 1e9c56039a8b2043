// `tcplens dashboard`: being built (see its issue); registers nothing yet.

import type { Command } from 'commander';

export function registerDashboard(_program: Command): void {}
