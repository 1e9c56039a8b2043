// uPlot charts that fill their card and follow its width: live ones with a rolling window, and
// static ones for the bench viewer.

import uPlot from 'uplot';
import { fmtTime as clock } from './format.ts';

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: boolean;
  /** Hidden at first (the legend turns it on). */
  hidden?: boolean;
}

export const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
  '#7c3aed',
  '#0d9488',
];

const HEIGHT = 220;

function width(el: HTMLElement): number {
  return Math.max(240, el.clientWidth);
}

function follow(el: HTMLElement, plot: () => uPlot | undefined): ResizeObserver {
  const observer = new ResizeObserver(() => {
    const p = plot();
    if (p && Math.abs(p.width - width(el)) > 1) p.setSize({ width: width(el), height: HEIGHT });
  });
  observer.observe(el);
  return observer;
}

/** The bench viewer's charts, so that opening another file replaces them. */
const drawn = new WeakMap<HTMLElement, { plot: uPlot; observer: ResizeObserver }>();

function seriesOpts(s: SeriesSpec, unit: string, points = false, digits = 1): uPlot.Series {
  return {
    label: s.label,
    stroke: s.color,
    width: 1.75,
    dash: s.dash ? [6, 4] : undefined,
    show: !s.hidden,
    points: { show: points, fill: s.color },
    value: (_u, v) => (v == null ? '–' : `${v.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit}`),
  };
}

/** The legend shows the newest values unless the cursor is on the chart (uPlot shows none then). */
function showLast(plot: uPlot): void {
  const n = plot.data[0].length;
  if (n > 0 && (plot.cursor.left ?? -1) < 0) plot.setLegend({ idx: n - 1 });
}

/** A chart of the last `capacity` points, one per sample; x is unix seconds. */
export class LiveChart {
  private readonly el: HTMLElement;
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[][];
  private readonly capacity: number;
  private plot: uPlot | undefined;
  private readonly opts: uPlot.Options;
  private readonly unit: string;
  /** How many points it holds: the tests read it as data-points. */
  count = 0;

  constructor(
    el: HTMLElement,
    series: SeriesSpec[],
    o: { yLabel: string; unit?: string; capacity?: number; digits?: number },
  ) {
    this.el = el;
    this.capacity = o.capacity ?? 300;
    this.ys = series.map(() => []);
    this.unit = o.unit ?? '';
    this.opts = {
      width: width(el),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      hooks: { setCursor: [(u) => showLast(u)] },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      // Wall-clock time to the second: the samples are a second apart.
      axes: [
        { values: (_u, splits) => splits.map(clock), space: 90 },
        { label: o.yLabel, size: 60 },
      ],
      series: [
        { label: 'time', value: (_u, v) => (v == null ? '–' : clock(v)) },
        ...series.map((s) => seriesOpts(s, o.unit ?? '', false, o.digits)),
      ],
    };
    follow(el, () => this.plot);
  }

  /** Series this chart draws, in order. */
  get seriesCount(): number {
    return this.ys.length;
  }

  /** A series that appears later (a reason seen for the first time): empty before now. */
  addSeries(s: SeriesSpec): void {
    this.ys.push(this.xs.map(() => null));
    const opts = seriesOpts(s, this.unit);
    this.opts.series.push(opts);
    this.plot?.addSeries(opts);
  }

  push(t: number, values: (number | null)[]): void {
    if (this.xs.length > 0 && t <= this.xs[this.xs.length - 1]!) return;
    this.xs.push(t);
    for (const [i, v] of values.entries()) this.ys[i]?.push(v);
    if (this.xs.length > this.capacity) {
      this.xs.shift();
      for (const y of this.ys) y.shift();
    }
    this.count = this.xs.length;
  }

  draw(): void {
    const data: uPlot.AlignedData = [this.xs, ...this.ys];
    if (!this.plot) this.plot = new uPlot(this.opts, data, this.el);
    else this.plot.setData(data);
    showLast(this.plot);
    this.el.dataset.points = String(this.count);
  }
}

/** A chart drawn once from whole arrays (the bench viewer's). */
export function staticChart(
  el: HTMLElement,
  xs: number[],
  series: (SeriesSpec & { values: (number | null)[] })[],
  o: { xLabel: string; yLabel: string; logX?: boolean; xValues?: (v: number) => string; xSplits?: number[] },
): uPlot {
  const old = drawn.get(el);
  if (old) {
    old.observer.disconnect();
    old.plot.destroy();
  }
  el.replaceChildren();
  const plot = new uPlot(
    {
      width: width(el),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      hooks: { setCursor: [(u) => showLast(u)] },
      scales: {
        x: { time: false, distr: o.logX ? 3 : 1 },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        {
          label: o.xLabel,
          values: o.xValues ? (_u, vals) => vals.map((v) => o.xValues!(v)) : undefined,
          splits: o.xSplits ? (_u, _i, min, max) => o.xSplits!.filter((x) => x >= min && x <= max) : undefined,
        },
        { label: o.yLabel, size: 60 },
      ],
      series: [
        { label: o.xLabel, value: o.xValues ? (_u, v) => (v == null ? '' : o.xValues!(v)) : undefined },
        ...series.map((s) => seriesOpts(s, '', xs.length <= 30)),
      ],
    },
    [xs, ...series.map((s) => s.values)],
    el,
  );
  showLast(plot);
  drawn.set(el, { plot, observer: follow(el, () => plot) });
  el.dataset.points = String(xs.length);
  return plot;
}
