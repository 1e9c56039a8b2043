// The bench viewer: a `tcplens bench --json` file from the user's disk, decoded by the server
// (POST /api/bench, read-only), drawn as a summary and four charts.

import type { BenchRunView, BenchView } from '../../src/observe/dashboard-protocol.ts';
import { PALETTE, staticChart } from './charts.ts';
import { byId, fmtCount, h } from './format.ts';

const NINES: Record<number, string> = {
  1: '0%',
  2: '50%',
  10: '90%',
  100: '99%',
  1000: '99.9%',
  10000: '99.99%',
  100000: '99.999%',
};

function message(text: string | null, error = false): void {
  const el = byId('bench-message');
  el.hidden = text === null;
  el.textContent = text ?? '';
  el.classList.toggle('error', error);
}

function summary(runs: BenchRunView[]): HTMLElement {
  const first = runs[0]!;
  const ms = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'bench-target' },
      `${first.method} ${first.target} · ${first.connections} connections · ${first.durationS.toFixed(1)} s`,
    ),
    h(
      'table',
      { class: 'bench-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'run',
            'req/s',
            'requests',
            'failed',
            'p50 ms',
            'p90 ms',
            'p99 ms',
            'p99.9 ms',
            'max ms',
            'connections',
            'TIME_WAIT peak',
          ].map((t, i) => h('th', { class: i ? 'num' : undefined }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        ...runs.map((r) =>
          h(
            'tr',
            { 'data-run': r.name },
            h('td', {}, r.name),
            ...[
              fmtCount(r.requests.perSecond),
              fmtCount(r.requests.total),
              fmtCount(r.requests.failed),
              ms(r.latencyMs.p50),
              ms(r.latencyMs.p90),
              ms(r.latencyMs.p99),
              ms(r.latencyMs.p999),
              ms(r.latencyMs.max),
              fmtCount(r.connectionsOpened),
              r.timeWaitPeak === null ? '–' : fmtCount(r.timeWaitPeak),
            ].map((v) => h('td', { class: 'num mono' }, v)),
          ),
        ),
      ),
    ),
    h(
      'ul',
      { class: 'verdict' },
      ...runs.flatMap((r) =>
        r.verdict.map((v) =>
          h(
            'li',
            { class: v.severity },
            runs.length > 1 && !v.text.startsWith(`${r.name}:`) ? `${r.name}: ${v.text}` : v.text,
          ),
        ),
      ),
    ),
  );
}

/** The longest timeline's seconds, and each run's values on them. */
function aligned(
  runs: BenchRunView[],
  pick: (r: BenchRunView) => (number | null)[],
): { xs: number[]; values: (number | null)[][] } {
  const xs = runs.reduce<number[]>((a, r) => (r.timeline.t.length > a.length ? r.timeline.t : a), []);
  return { xs, values: runs.map((r) => xs.map((_, i) => pick(r)[i] ?? null)) };
}

function draw(view: BenchView): void {
  const runs = view.runs;
  byId('bench-summary').replaceChildren(summary(runs));
  byId('bench-result').hidden = false;
  const color = (i: number) => PALETTE[i % PALETTE.length]!;
  const rps = aligned(runs, (r) => r.timeline.requests);
  staticChart(
    byId('bench-rps'),
    rps.xs,
    runs.map((r, i) => ({ label: r.name, color: color(i), values: rps.values[i]! })),
    { xLabel: 'second', yLabel: 'requests/s' },
  );
  const p50 = aligned(runs, (r) => r.timeline.p50Ms);
  const p99 = aligned(runs, (r) => r.timeline.p99Ms);
  staticChart(
    byId('bench-latency'),
    p50.xs,
    runs.flatMap((r, i) => [
      { label: `${r.name} p50`, color: color(i), values: p50.values[i]! },
      { label: `${r.name} p99`, color: color(i), dash: true, values: p99.values[i]! },
    ]),
    { xLabel: 'second', yLabel: 'ms' },
  );
  const curveXs = runs[0]!.curve.x;
  staticChart(
    byId('bench-curve'),
    curveXs,
    runs.map((r, i) => ({ label: r.name, color: color(i), values: curveXs.map((_, k) => r.curve.y[k] ?? null) })),
    {
      xLabel: 'percentile',
      yLabel: 'ms',
      logX: true,
      xValues: (v) => NINES[Math.round(v)] ?? '',
      xSplits: Object.keys(NINES).map(Number),
    },
  );
  const tw = aligned(runs, (r) => r.timeline.timeWait);
  const ports = aligned(runs, (r) => r.timeline.ephemeralPorts);
  staticChart(
    byId('bench-tw'),
    tw.xs,
    runs.flatMap((r, i) => [
      { label: `${r.name} TIME_WAIT`, color: color(i), values: tw.values[i]! },
      { label: `${r.name} ports`, color: color(i), dash: true, values: ports.values[i]! },
    ]),
    { xLabel: 'second', yLabel: 'sockets' },
  );
}

async function open(file: File): Promise<void> {
  message(`reading ${file.name}…`);
  // The file itself, not its text: a day-long run's file can be hundreds of MB, which the server
  // reads as it arrives and the page need not hold as one string.
  const res = await fetch('./api/bench', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: file,
  });
  const body = (await res.json().catch(() => ({ error: `the server answered ${res.status}` }))) as
    | BenchView
    | { error: string };
  if (!res.ok || 'error' in body) {
    byId('bench-result').hidden = true;
    return message(`${file.name}: ${'error' in body ? body.error : res.status}`, true);
  }
  message(`${file.name}: ${body.runs.length === 1 ? 'one run' : `${body.runs.length} runs`}`);
  draw(body);
}

export function setUpBenchViewer(): void {
  const input = byId<HTMLInputElement>('bench-file');
  const drop = byId('bench-drop');
  const run = (file: File | undefined) => {
    if (file)
      open(file).catch((err: unknown) =>
        message(`${file.name}: ${err instanceof Error ? err.message : String(err)}`, true),
      );
  };
  input.addEventListener('change', () => {
    run(input.files?.[0]);
    // So that choosing the same file again (after writing it anew) opens it again.
    input.value = '';
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    run(e.dataTransfer?.files[0]);
  });
}
