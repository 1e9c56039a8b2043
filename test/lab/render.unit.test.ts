// The lab's tables as a reader sees them: one table per part, no column that is empty in every row,
// wide tables of few rows turned on their side, a null that means "not watched" saying so, and a run
// stopped halfway saying that it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cell, ExperimentResult } from '../../src/lab/experiment.ts';
import { runLab, type LabReport } from '../../src/lab/runner.ts';
import { MAX_TABLE_WIDTH, renderExperiment, renderLab, tableBlocks } from '../../src/render/lab.ts';
import { renderLabHtml } from '../../src/render/lab-html.ts';

// E2's rows as a --quick run returns them: three parts that share almost no column.
const e2Rows: Record<string, Cell>[] = [
  { part: 'tcp_tw_reuse', setting: 'tcp_tw_reuse=0', runS: 2, ok: 99, lastOkS: 1, eaddrnotavail: 32, timestamps: 1 },
  { part: 'tcp_tw_reuse', setting: 'tcp_tw_reuse=1', runS: 2, ok: 200, lastOkS: 2, eaddrnotavail: 44, timestamps: 1 },
  {
    part: 'tcp_fin_timeout',
    setting: 'tcp_fin_timeout=60',
    state: 'TIME_WAIT',
    connections: 50,
    sockets: 50,
    timerS: 60,
    peerRsts: 0,
  },
  {
    part: 'tcp_fin_timeout',
    setting: 'tcp_fin_timeout=3',
    state: 'TIME_WAIT',
    connections: 50,
    sockets: 50,
    timerS: 59.9,
    peerRsts: 0,
    stillAfterS: 3.5,
    stillThere: 50,
    goneAfterS: null,
  },
  {
    part: 'tcp_fin_timeout',
    setting: 'tcp_fin_timeout=3',
    state: 'FIN_WAIT2',
    connections: 50,
    sockets: 50,
    timerS: 3,
    peerRsts: 0,
  },
  {
    part: 'who closes first',
    setting: 'client closes first',
    connections: 100,
    clientTimeWait: 98,
    serverTimeWait: 0,
    peerRsts: 2,
    note: null,
  },
  {
    part: 'who closes first',
    setting: 'server closes first',
    connections: 100,
    clientTimeWait: 0,
    serverTimeWait: 100,
    peerRsts: 0,
    note: null,
  },
];

function result(
  id: ExperimentResult['id'],
  rows: ExperimentResult['rows'],
  o: Partial<ExperimentResult> = {},
): ExperimentResult {
  return {
    id,
    title: `${id} title`,
    shows: 'what it shows',
    rows,
    charts: [],
    conclusion: 'a conclusion',
    durationMs: 1000,
    ...o,
  };
}

test("E2's rows come out as one table per part, without the columns that are empty in every row", () => {
  const blocks = tableBlocks(e2Rows, { goneAfterS: 'not watched' });
  assert.deepEqual(
    blocks.map((b) => b.title),
    ['tcp_tw_reuse', 'tcp_fin_timeout', 'who closes first'],
  );
  const who = blocks[2]!;
  assert.deepEqual(
    who.headers,
    ['setting', 'connections', 'clientTimeWait', 'serverTimeWait', 'peerRsts'],
    'no part, no all-null note, no other part’s columns',
  );
  for (const b of blocks)
    for (const [i, h] of b.headers.entries())
      assert.ok(
        b.cells.some((row) => row[i] !== '-'),
        `${b.title}: column ${h} is not empty in every row`,
      );
  // The null that means something says what.
  const fin = blocks[1]!;
  // Nine columns over three rows: wider than the table width, so turned on its side.
  assert.equal(fin.transposed, true);
  const gone = fin.cells.find((c) => c[0] === 'goneAfterS')!;
  assert.equal(gone[2], 'not watched');
  assert.equal(gone[1], '-', 'a row without the key is still "-"');

  const text = renderExperiment(result('E2', e2Rows, { blanks: { goneAfterS: 'not watched' } }), false);
  const widest = Math.max(...text.split('\n').map((l) => l.length));
  assert.ok(widest <= MAX_TABLE_WIDTH + 2, `widest line ${widest}:\n${text}`);
  assert.match(text, /^ {2}who closes first\n {2}setting +connections +clientTimeWait/m);
});

test('one part is a titled table without a part column; hidden keys stay out of the tables; no rows, no blank lines', () => {
  // E4 without root: its one part, the abort.
  const rows = [
    {
      part: 'peer aborts (RST)',
      client: 'keepalive off',
      keepalive: 'a long wording the conclusion quotes',
      detected: 'ECONNRESET',
      detectedAfterMs: 2.9,
    },
  ];
  const [b] = tableBlocks(rows, {}, ['keepalive']);
  assert.equal(b!.title, 'peer aborts (RST)');
  assert.deepEqual(b!.headers, ['client', 'detected', 'detectedAfterMs']);
  const text = renderExperiment(result('E4', rows, { hidden: ['keepalive'] }), false);
  assert.doesNotMatch(text, /long wording|\bpart\b/);
  assert.deepEqual(tableBlocks([]), []);
  // The audit's interrupted output: three blank lines before "failed: interrupted".
  const stopped = renderExperiment(result('E4', [], { error: 'interrupted', conclusion: 'No conclusion.' }), false);
  assert.doesNotMatch(stopped, /\n\s*\n/, stopped);
  assert.match(stopped, /what it shows\n {2}failed: interrupted\n/);
});

test('a wide table of two rows is turned on its side; a narrow one is not', () => {
  const wide = (cookies: number) =>
    Object.fromEntries([
      ['syncookies', cookies],
      ...Array.from({ length: 18 }, (_, i) => [`measurementNumber${i}`, 1000 + i]),
    ]);
  const [b] = tableBlocks([wide(1), wide(0)]);
  assert.equal(b!.transposed, true);
  assert.deepEqual(b!.headers, ['syncookies', '1', '0']);
  assert.deepEqual(b!.cells[0], ['measurementNumber0', '1,000', '1,000']);
  const text = renderExperiment(result('E3', [wide(1), wide(0)]), false);
  assert.ok(Math.max(...text.split('\n').map((l) => l.length)) <= MAX_TABLE_WIDTH + 2, text);
  const [narrow] = tableBlocks([
    { mode: 'keepalive', rps: 1 },
    { mode: 'close', rps: 2 },
  ]);
  assert.equal(narrow!.transposed, false);
});

test('the HTML report lays out the same tables, the part as a caption', () => {
  const report: LabReport = {
    tool: 'tcplens',
    kernel: '6.x',
    root: true,
    quick: true,
    startedAt: new Date(0).toISOString(),
    durationMs: 1000,
    staleRemoved: [],
    interrupted: false,
    notRun: [],
    experiments: [result('E2', e2Rows, { blanks: { goneAfterS: 'not watched' } })],
  };
  const html = renderLabHtml(report);
  assert.equal(html.match(/<table>/g)!.length, 3);
  assert.match(
    html,
    /<caption>who closes first<\/caption><tr><th>setting<\/th><th>connections<\/th><th>clientTimeWait<\/th><th>serverTimeWait<\/th><th>peerRsts<\/th><\/tr>/,
  );
  assert.match(html, /<td class="">not watched<\/td>|<td class="n">not watched<\/td>/);
  assert.doesNotMatch(html, /interrupted/i);
});

test('a run stopped before its end says so in its first line, with what did not run', async () => {
  // The runner itself, stopped before it began: nothing runs, and the report says it was interrupted.
  const controller = new AbortController();
  controller.abort();
  const report = await runLab({ ids: ['E7', 'E8'], signal: controller.signal, handleSignals: false });
  assert.equal(report.interrupted, true);
  assert.deepEqual(report.notRun, ['E7', 'E8']);
  assert.deepEqual(report.experiments, []);
  assert.match(renderLab(report, false).split('\n')[0]!, /interrupted \(not run: E7 E8\)$/);

  const halfway: LabReport = {
    ...report,
    notRun: ['E5'],
    experiments: [
      result('E3', []),
      result('E4', [], {
        error: 'interrupted',
        conclusion: 'No conclusion: the run was interrupted before this experiment ended.',
      }),
    ],
  };
  assert.match(renderLab(halfway, false).split('\n')[0]!, /interrupted during E4 \(not run: E5\)$/);
  assert.match(renderLabHtml(halfway), /The run was interrupted during E4 \(not run: E5\)\./);
  const whole: LabReport = { ...halfway, interrupted: false, notRun: [], experiments: [result('E3', [])] };
  assert.doesNotMatch(renderLab(whole, false), /interrupted/);
});
