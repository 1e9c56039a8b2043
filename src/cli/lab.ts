// `tcplens lab`: the lab's experiments, run for real in network namespaces of their own.
//
// --json: {"tool","kernel","root","quick","startedAt","durationMs","staleRemoved":[…],"interrupted","notRun":[…],
//          "experiments":[{"id","title","shows","rows":[{…}],"conclusion","skippedWhy"?,"skipped":[…],"blanks"?,"hidden"?,"error"?,
//                          "durationMs","charts":[{"title","kind","xLabel","yLabel","series":[{"label","points"}]}]}]}
// E1's rows: {"mode":"keepalive"|"close","rps","p99Ms","timeWaitPeak","portsPerSec","errors",…}. A null cell is a value not
// measured; "blanks" says why, per column, where that is not obvious (E2's goneAfterS: "not watched" in --quick);
// "hidden" names row keys the tables leave out (E4's long keepalive wording, which its client column says in short).
// lab list --json: {"root","experiments":[{"id","title","shows","needsRoot","rootFor"}]}: rootFor names the parts that need root.
// Exit 1 when an experiment failed (not when one was skipped for want of root).

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { renderJson } from '../text/json.ts';
import { useColor } from '../render/table.ts';
import { assertWritableFile, clearProgress, out, progress } from './output.ts';

interface LabRunCliOptions {
  quick?: boolean;
  json?: boolean;
  report?: string;
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description(
      'experiments on TCP under HTTP, run for real in network namespaces: measured tables, charts and conclusions',
    )
    .addHelpText(
      'after',
      `
Examples:
  tcplens lab list
  tcplens lab run E1 --quick                  keep-alive vs close, a few seconds
  tcplens lab run --report lab.html           every experiment, and a self-contained HTML report
  tcplens lab run E3 E4 --json`,
    );

  lab
    .command('list')
    .description('the experiments, and which need root')
    .option('--json', 'machine-readable list')
    .action(async (o: { json?: boolean }) => {
      const { EXPERIMENTS } = await import('../lab/registry.ts');
      const root = process.getuid?.() === 0;
      if (o.json) {
        out(
          renderJson({
            root,
            experiments: EXPERIMENTS.map((e) => ({
              id: e.id,
              title: e.title,
              shows: e.shows,
              needsRoot: e.needsRoot ?? null,
              rootFor: e.rootFor ?? null,
            })),
          }),
        );
        return;
      }
      const { renderLabList } = await import('../render/lab.ts');
      out(renderLabList(EXPERIMENTS, root));
    });

  lab
    .command('run')
    .description('run experiments (default all), each in its own client and server namespaces, removed at the end')
    .argument('[ids...]', 'experiment ids such as E1 E3 (default: all)')
    .option('--quick', 'each experiment measures for about 5 s at most')
    .option('--json', 'machine-readable results (schema: docs/json-schemas.md)')
    .option('--report <file>', 'also write a self-contained HTML report with tables and charts')
    .addHelpText(
      'after',
      `
Namespaces are named tcplens-lab-<pid>-*; sysctls change only inside them. Ctrl-C, SIGTERM or a closed
terminal (SIGHUP) removes everything the run started; a run also removes what a killed earlier run left behind.
Without root, what needs no namespace runs on loopback and the rest is listed as skipped, with why.`,
    )
    .action(async (ids: string[], o: LabRunCliOptions) => {
      // Before anything runs: a full run takes minutes, and a report path found unwritable only at its end would lose them.
      if (o.report !== undefined) assertWritableFile(o.report, '--report');
      const { runLab, selectExperiments } = await import('../lab/runner.ts');
      selectExperiments(ids); // unknown ids fail here, before anything starts
      const { renderLab, labJson } = await import('../render/lab.ts');
      const report = await runLab({
        ids,
        quick: o.quick,
        progress: (text) => progress(`lab  ${text}`),
      });
      clearProgress();
      if (o.report) {
        const { renderLabHtml } = await import('../render/lab-html.ts');
        try {
          writeFileSync(o.report, renderLabHtml(report));
        } catch (err) {
          throw new UsageError(`--report: cannot write ${o.report} (${(err as NodeJS.ErrnoException).code ?? err})`);
        }
      }
      out(o.json ? renderJson(labJson(report)) : renderLab(report, useColor()));
      if (report.experiments.some((r) => r.error)) process.exitCode = 1;
    });
}
