/** A hand-written SVG line chart of a metric per round, one line per run, baselines as dashed lines. */

/** One line of the chart. */
export interface PlotSeries {
  label: string;
  points: { x: number; y: number }[];
}

/** Chart content. */
export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  /** Horizontal reference lines (e.g. popularity, centralized final value). */
  references: { label: string; y: number }[];
}

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Renders the chart as a standalone SVG document. */
export function renderPlot(p: PlotSpec): string {
  const W = 760;
  const H = 420;
  const m = { l: 70, r: 200, t: 40, b: 50 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = p.series.flatMap((s) => s.points.map((q) => q.x));
  const ys = [...p.series.flatMap((s) => s.points.map((q) => q.y)), ...p.references.map((r) => r.y)].filter(
    Number.isFinite,
  );
  const x0 = Math.min(0, ...xs);
  const x1 = Math.max(1, ...xs);
  const y1 = Math.max(1e-6, ...ys) * 1.1;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.t + ph - (y / y1) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l + pw / 2}" y="22" text-anchor="middle" font-size="15">${esc(p.title)}</text>`,
  );
  for (const v of ticks(0, y1)) {
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${v}</text>`,
    );
  }
  for (const v of ticks(x0, x1)) {
    out.push(
      `<line x1="${sx(v)}" x2="${sx(v)}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="#333"/>`,
      `<text x="${sx(v)}" y="${m.t + ph + 18}" text-anchor="middle">${v}</text>`,
    );
  }
  out.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(p.xLabel)}</text>`,
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`,
  );
  let legendY = m.t + 10;
  const legend = (color: string, label: string, dash: boolean): void => {
    out.push(
      `<line x1="${m.l + pw + 12}" x2="${m.l + pw + 36}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"${dash ? ' stroke-dasharray="5 4"' : ''}/>`,
      `<text x="${m.l + pw + 42}" y="${legendY + 4}">${esc(label)}</text>`,
    );
    legendY += 18;
  };
  p.references.forEach((r, i) => {
    if (!Number.isFinite(r.y)) return;
    const color = COLORS[(COLORS.length - 1 - i) % COLORS.length]!;
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(r.y)}" y2="${sy(r.y)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    );
    legend(color, r.label, true);
  });
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter((q) => Number.isFinite(q.y));
    if (pts.length > 0) {
      const d = pts
        .map((q, k) => `${k === 0 ? 'M' : 'L'}${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`)
        .join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const q of pts)
        out.push(`<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    }
    legend(color, s.label, false);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
