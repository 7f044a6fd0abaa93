// The bridge between the dashboard (Rust, compiled to WebAssembly) and uPlot.
//
// Rust builds every chart's spec and columns (frontend/src/model/chart_data.rs) and hands them
// over as JSON; this module only draws. Updates are batched: `updateChart` stores the newest
// columns and asks for one animation frame, in which every chart that changed gets one
// `setData`. A burst of messages from the live feed therefore costs one redraw per chart per
// frame, and nothing is re-created.
//
// uPlot is loaded as a classic script (frontend/index.html) and read from `window.uPlot`.
//
// For the tests, `window.__layercastCharts[id]` holds each chart's spec and newest data, and
// `window.__layercastChartStats` counts updates and the frames that applied them.

const charts = new Map();
const dirty = new Set();
let frameRequested = false;

const registry = (window.__layercastCharts = window.__layercastCharts || {});
const stats = (window.__layercastChartStats = window.__layercastChartStats || {
  updates: 0,
  frames: 0,
  redraws: 0,
});

const PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** A value with an SI prefix, three significant digits, as format::si in Rust. */
export function formatSi(value, unit) {
  if (value == null || !Number.isFinite(value)) return '—';
  if (unit === '%') return `${(value * 100).toFixed(2)} %`;
  let scaled = Math.abs(value);
  let prefix = 0;
  while (scaled >= 999.5 && prefix + 1 < PREFIXES.length) {
    scaled /= 1000;
    prefix += 1;
  }
  const digits = scaled >= 99.95 || scaled === 0 ? 0 : scaled >= 9.995 ? 1 : 2;
  return `${value < 0 ? '-' : ''}${scaled.toFixed(digits)} ${PREFIXES[prefix]}${unit}`;
}

function cssVar(name) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || '#888';
}

function utcLabel(seconds) {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Time axis labels in UTC, 24-hour: `14:20`, with the date when the span passes a day. */
function timeLabels(u, vals) {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return vals.map((v) => {
    const iso = new Date(v * 1000).toISOString();
    return span > 86_400 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
  });
}

function columns(data) {
  return [data.x, ...data.ys];
}

function options(spec, width) {
  const axisColor = cssVar('--fg-muted');
  const gridColor = cssVar('--grid');
  const unit = spec.series[0]?.unit ?? '';
  return {
    width,
    height: spec.height,
    // The planners, the logs and the backend speak UTC.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: !spec.sparkline, live: true },
    cursor: spec.sparkline ? { show: false } : { drag: { x: true, y: false } },
    axes: spec.sparkline
      ? [{ show: false }, { show: false }]
      : [
          { stroke: axisColor, grid: { stroke: gridColor }, ticks: { stroke: gridColor }, values: timeLabels },
          {
            stroke: axisColor,
            grid: { stroke: gridColor },
            ticks: { stroke: gridColor },
            size: 90,
            values: (u, vals) => vals.map((v) => formatSi(v, unit)),
          },
        ],
    series: [
      { value: (u, ts) => (ts == null ? '' : utcLabel(ts)) },
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        width: s.points ? 0 : 1.5,
        dash: s.dashed ? [6, 4] : undefined,
        spanGaps: false,
        points: s.points
          ? { show: true, size: 9, fill: cssVar(s.color), stroke: cssVar(s.color) }
          : { show: false },
        paths: s.points ? () => null : undefined,
        value: (u, v) => formatSi(v, s.unit),
      })),
    ],
    bands: spec.band
      ? [{ series: [spec.band[0] + 1, spec.band[1] + 1], fill: cssVar('--chart-band-fill') }]
      : [],
    scales: { x: { time: true } },
  };
}

function build(entry) {
  entry.el.replaceChildren();
  const width = Math.max(entry.el.clientWidth, 120);
  entry.plot = new uPlot(options(entry.spec, width), columns(entry.data), entry.el);
}

/** Moves the cursor with the arrow keys, so the values can be read without a mouse. */
function onKey(entry, event) {
  const plot = entry.plot;
  const n = entry.data.x.length;
  if (!plot || n === 0 || entry.spec.sparkline) return;
  const step = { ArrowLeft: -1, ArrowRight: 1, Home: -n, End: n }[event.key];
  if (step === undefined) return;
  event.preventDefault();
  const current = plot.cursor.idx ?? (step > 0 ? -1 : n);
  const idx = Math.min(n - 1, Math.max(0, current + step));
  plot.setCursor({ left: plot.valToPos(entry.data.x[idx], 'x'), top: plot.bbox.height / 4 / devicePixelRatio });
}

function flush() {
  frameRequested = false;
  stats.frames += 1;
  for (const id of dirty) {
    const entry = charts.get(id);
    if (entry?.plot) {
      entry.plot.setData(columns(entry.data));
      stats.redraws += 1;
    }
  }
  dirty.clear();
}

/** Draws a chart into `el`; `id` names it for updates. A second call with the same id replaces it. */
export function createChart(el, id, specJson, dataJson) {
  destroyChart(id);
  const entry = { el, spec: JSON.parse(specJson), data: JSON.parse(dataJson), plot: null };
  charts.set(id, entry);
  registry[id] = { spec: entry.spec, data: entry.data };
  el.tabIndex = 0;
  entry.onKey = (e) => onKey(entry, e);
  el.addEventListener('keydown', entry.onKey);
  build(entry);
  entry.resize = new ResizeObserver(() => {
    const width = Math.max(el.clientWidth, 120);
    if (entry.plot && Math.abs(entry.plot.width - width) > 1) {
      entry.plot.setSize({ width, height: entry.spec.height });
    }
  });
  entry.resize.observe(el);
}

/** Replaces a chart's columns; drawn at the next animation frame, with every other change. */
export function updateChart(id, dataJson) {
  const entry = charts.get(id);
  if (!entry) return;
  entry.data = JSON.parse(dataJson);
  registry[id] = { spec: entry.spec, data: entry.data };
  stats.updates += 1;
  dirty.add(id);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(flush);
  }
}

export function destroyChart(id) {
  const entry = charts.get(id);
  if (!entry) return;
  entry.resize?.disconnect();
  entry.el.removeEventListener('keydown', entry.onKey);
  entry.plot?.destroy();
  charts.delete(id);
  dirty.delete(id);
  delete registry[id];
}

// Colours come from the theme's CSS variables when a chart is built: rebuild every chart when
// the system switches between light and dark.
window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
  for (const entry of charts.values()) build(entry);
});
