// `tcplens sysctl`: the knobs that matter, current vs recommended per profile; --emit a sysctl.d file; --apply as root.
//
// JSON schema (--json), stable:
//   {
//     "profile": "server" | "gateway" | "client",
//     "kernel": string,                       // uname -r
//     "knobs": [{
//       "name": string,                       // dotted, e.g. "net.core.somaxconn"
//       "scope": "netns" | "global" | "host", // per network namespace, host-wide net knob, or fs.* context
//       "present": boolean,                   // false: this kernel or network namespace does not list it
//       "current": string | null,             // sysctl(8) text ("32768 60999", "8080,9000-9010", ""); null if absent
//       "default": string | null,             // kernel default; null when computed at boot (see defaultNote)
//       "defaultNote": string | null,
//       "recommended": string | null,         // value --emit/--apply would set; null = no opinion
//       "rule": "equal" | "atLeast" | "atMost" | "portsAtLeast" | null,  // how current is compared to it
//       "status": "ok" | "differs" | "absent" | "info",                 // info: no opinion or read-only
//       "why": string,                        // the profile's reason (or why absent)
//       "what": string                        // what the knob really does
//     }],
//     "nofile": {
//       "pid": number | "self",               // "self" = this tcplens process (Node raises soft to hard)
//       "soft": number | "unlimited", "hard": number | "unlimited",
//       "recommendedMin": number | null, "status": "ok" | "differs" | "info", "why": string
//     },
//     "apply"?: {                              // only with --apply
//       "dryRun": boolean,
//       "changes": [{ "name": string, "from": string, "to": string, "now"?: string }],  // now: read back after writing
//       "skipped": [{ "name": string, "reason": string }],
//       "rollback": [string]                  // `sysctl -w name=old` commands that undo the changes
//     }
//   }

import { release } from 'node:os';
import type { Command } from 'commander';
import { PermissionError, UsageError } from '../errors.ts';
import { readOpenFilesLimit } from '../kernel/limits.ts';
import { assertSysctlRoot, readSysctls, writeSysctls, type SysctlWriteResult } from '../kernel/sysctl.ts';
import { PROFILES, SYSCTL_CATALOG, type Profile } from '../analyze/sysctl-catalog.ts';
import { buildSysctlReport, emitSysctlConf, planApply } from '../analyze/sysctl-advice.ts';
import { renderJson } from '../text/json.ts';
import { renderApplyPlan, renderApplyResult, renderRollback, renderSysctlReport } from '../render/sysctl.ts';
import { useColor } from '../render/table.ts';
import { parseChoice, parseInteger } from './options.ts';
import { out } from './output.ts';

interface SysctlOptions {
  profile: Profile;
  pid?: number;
  json?: boolean;
  explain?: boolean;
  emit?: boolean;
  apply?: boolean;
  dryRun?: boolean;
}

const EXAMPLES = `
Examples:
  tcplens sysctl                              knobs vs the server profile, and this process's open-files limit
  tcplens sysctl --profile gateway --explain  for a reverse proxy, with what each knob really does
  tcplens sysctl --pid "$(pgrep -o node)"     check a running service's RLIMIT_NOFILE
  tcplens sysctl --emit > 90-tcplens.conf     a /etc/sysctl.d file of the recommendations that differ
  sudo tcplens sysctl --apply --dry-run       what --apply would change, and the undo commands
  sudo tcplens sysctl --apply                 change the net.* knobs that differ (prints how to undo)

--apply writes /proc/sys of the network namespace tcplens runs in; it never touches fs.*.
Run it under "ip netns exec NAME" to change a namespace instead of the host.`;

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function checkCombination(opts: SysctlOptions): void {
  if (opts.dryRun && !opts.apply) throw new UsageError('--dry-run goes with --apply');
  if (opts.emit && opts.apply) throw new UsageError('--emit and --apply are alternatives: pick one');
  if (opts.emit && opts.json) throw new UsageError('--emit prints a sysctl.d file, not JSON: drop --json');
}

function runSysctl(opts: SysctlOptions): void {
  checkCombination(opts);
  // Refuse before reading anything, so a refused --apply provably changes nothing.
  if (opts.apply && !opts.dryRun && !isRoot()) {
    throw new PermissionError(
      '--apply changes kernel settings and needs root: run it with sudo, or use --emit to get a sysctl.d file',
    );
  }
  assertSysctlRoot();
  const report = buildSysctlReport({
    profile: opts.profile,
    kernel: release(),
    readings: readSysctls(SYSCTL_CATALOG.map((k) => k.name)),
    nofile: readOpenFilesLimit(opts.pid ?? 'self'),
  });

  if (opts.emit) {
    out(emitSysctlConf(report));
    return;
  }
  if (!opts.apply) {
    out(opts.json ? renderJson(report) : renderSysctlReport(report, { color: useColor(), explain: opts.explain }));
    return;
  }

  const plan = planApply(report);
  if (opts.dryRun) {
    out(
      opts.json ? renderJson({ ...report, apply: { dryRun: true, ...withoutProfile(plan) } }) : renderApplyPlan(plan),
    );
    return;
  }
  // The undo commands go out before the first write, so they survive a crash half-way (to stderr
  // with --json, to keep stdout one JSON document).
  const rollback = renderRollback(plan);
  if (opts.json) process.stderr.write(rollback);
  else out(rollback ? `${rollback}\n` : '');
  const results: SysctlWriteResult[] = writeSysctls(plan.changes);
  out(
    opts.json
      ? renderJson({ ...report, apply: { dryRun: false, ...withoutProfile(plan), changes: results } })
      : renderApplyResult(plan, results),
  );
}

function withoutProfile<T extends { profile: Profile }>(plan: T): Omit<T, 'profile'> {
  const { profile: _profile, ...rest } = plan;
  return rest;
}

export function registerSysctl(program: Command): void {
  program
    .command('sysctl')
    .description('The kernel knobs that matter for TCP under HTTP: current vs recommended per profile, and why.')
    .option(
      '--profile <name>',
      `what this host does: ${PROFILES.join(', ')}`,
      parseChoice('--profile', PROFILES),
      'server',
    )
    .option(
      '--pid <pid>',
      "report this process's open-files limit instead of tcplens's own",
      parseInteger('--pid', 1, 4_194_304),
    )
    .option('--explain', 'add what each knob really does and its kernel default')
    .option('--emit', 'print a /etc/sysctl.d file with the recommendations that differ')
    .option('--apply', 'as root: write the net.* recommendations that differ to /proc/sys, printing how to undo')
    .option('--dry-run', 'with --apply: show what would change, write nothing')
    .option('--json', 'one JSON document (schema at the top of src/cli/sysctl.ts)')
    .addHelpText('after', EXAMPLES)
    .action((opts: SysctlOptions) => runSysctl(opts));
}
