// uPlot charts of the dashboard: one per element id, redrawn in place when the data changes.

const $ = (id) => document.getElementById(id);
const charts = {};

// Integer steps only: x values are round ids or model versions.
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

function chartOpts(el, series, { bars = false, xLabel = '', yMin = null, yMax = null, bands } = {}) {
  const palette = ['#2563eb', '#c2410c', '#16a34a', '#9333ea'];
  return {
    bands,
    width: Math.max(240, el.clientWidth),
    height: 190,
    legend: { show: series.filter((s) => !s.band).length > 1, live: false },
    scales: {
      x: {
        time: false,
        range: (_u, min, max) =>
          bars ? [min - 0.6, max + 0.6] : min === max ? [min - 1, max + 1] : [min, max],
      },
      y: {
        range: (_u, min, max) =>
          yMax !== null
            ? [yMin ?? min, yMax]
            : [yMin ?? min, max === (yMin ?? min) ? max + 1 : max + (max - (yMin ?? min)) * 0.08],
      },
    },
    axes: [
      { stroke: '#667085', incrs: INT_INCRS, label: xLabel, labelSize: 18 },
      { stroke: '#667085', size: 64 },
    ],
    series: [
      { label: xLabel || 'x' },
      ...series.map((s, i) => ({
        label: s.label,
        show: true,
        stroke: s.band ? 'transparent' : s.color || palette[i % palette.length],
        width: 2,
        dash: s.dash,
        fill: bars ? `${palette[i % palette.length]}55` : undefined,
        paths: bars && window.uPlot ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        points: { show: !bars && !s.dash && !s.band },
      })),
    ],
  };
}

/** Draws or updates a chart; shows a note instead when there is nothing to plot yet. */
export function draw(id, xs, series, opts, emptyText) {
  const el = $(id);
  if (!window.uPlot) {
    el.textContent = 'Chart library failed to load.';
    return;
  }
  if (xs.length === 0) {
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
    const p = document.createElement('p');
    p.className = 'muted empty';
    p.textContent = emptyText;
    el.replaceChildren(p);
    return;
  }
  const data = [xs, ...series.map((s) => s.values)];
  const key = series.map((s) => s.label).join('|');
  if (charts[id] && charts[id].__key === key) {
    charts[id].setData(data);
    return;
  }
  if (charts[id]) charts[id].destroy();
  el.textContent = '';
  const c = new window.uPlot(chartOpts(el, series, opts), data, el);
  // Interval bounds are drawn as a shaded band, not as legend entries of their own.
  const rows = c.root.querySelectorAll('.u-legend .u-series');
  series.forEach((s, i) => {
    if (s.band && rows[i]) rows[i].hidden = true;
  });
  c.__key = key;
  charts[id] = c;
}

/** Redraws every chart at its element's current width (after a resize or rotation). */
export function resizeCharts() {
  for (const id of Object.keys(charts)) {
    const el = $(id);
    charts[id].setSize({ width: Math.max(240, el.clientWidth), height: 190 });
  }
}
