// Frame time of a wall display: 50 live charts drawn by the dashboard's own chart bridge
// (frontend/js/charts.js over uPlot, as the pages use them), each fed a new point every
// 100 ms (500 updates/s, ten times what the feed sends when every 10 s window of 50 series
// gets its provisional and final values), for 10 s. Measures the time between animation frames
// with requestAnimationFrame: mean and p95, and how many redraws the updates cost.
//
//   node e2e/bench/chart-frames.mjs        (CHROMIUM_PATH as for the e2e tests)
//
// Needs frontend/node_modules (scripts/build-frontend installs it). Serves frontend/ on a free
// loopback port and prints one JSON line.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FRONTEND = path.join(REPO, 'frontend');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHARTS = 50;
const POINTS = 360;
const UPDATE_EVERY_MS = 100;
const MEASURE_MS = 10_000;
const VIEWPORT = { width: 1920, height: 1080 };

const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/node_modules/uplot/dist/uPlot.min.css">
<link rel="stylesheet" href="/style.css">
<script src="/node_modules/uplot/dist/uPlot.iife.min.js"></script>
<style>#wall { display: grid; grid-template-columns: repeat(5, 1fr); gap: 4px; padding: 4px; }</style>
</head><body><div id="wall"></div>
<script type="module">
import { createChart, updateChart } from '/js/charts.js';
const spec = (i) => JSON.stringify({ title: 'chart ' + i, height: 90, sparkline: false,
  series: [{ label: 'throughput', unit: 'bit/s', color: '--chart-1' },
           { label: 'capacity', unit: 'bit/s', color: '--chart-bad', dashed: true }] });
const now = Math.floor(Date.now() / 1000);
const series = [];
for (let i = 0; i < ${CHARTS}; i++) {
  const el = document.createElement('div');
  el.className = 'chart';
  document.getElementById('wall').append(el);
  const x = Array.from({ length: ${POINTS} }, (_, k) => now - (${POINTS} - k) * 10);
  const y = x.map((_, k) => 1e9 + 2e8 * Math.sin((k + i) / 20) + Math.random() * 5e7);
  series.push({ x, y });
  createChart(el, 'c' + i, spec(i), JSON.stringify({ x, ys: [y, x.map(() => 2e9)] }));
}
window.feed = () => setInterval(() => {
  for (let i = 0; i < series.length; i++) {
    const s = series[i];
    s.x.push(s.x[s.x.length - 1] + 10); s.x.shift();
    s.y.push(1e9 + 2e8 * Math.sin(s.x.length / 20) + Math.random() * 5e7); s.y.shift();
    updateChart('c' + i, JSON.stringify({ x: s.x, ys: [s.y, s.x.map(() => 2e9)] }));
  }
}, ${UPDATE_EVERY_MS});
window.measure = (ms) => new Promise((resolve) => {
  const deltas = [];
  let last = performance.now();
  const end = last + ms;
  const before = { ...window.__layercastChartStats };
  const tick = (t) => {
    deltas.push(t - last);
    last = t;
    if (t < end) requestAnimationFrame(tick);
    else {
      const s = window.__layercastChartStats;
      resolve({ deltas, updates: s.updates - before.updates, redraws: s.redraws - before.redraws, frames: s.frames - before.frames });
    }
  };
  requestAnimationFrame(tick);
});
window.ready = true;
</script></body></html>`;

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    return;
  }
  const file = path.join(FRONTEND, path.normalize(url.pathname));
  if (!file.startsWith(FRONTEND) || !fs.existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: VIEWPORT });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(() => window.feed());
  const result = await page.evaluate((ms) => window.measure(ms), MEASURE_MS);
  const deltas = result.deltas.slice(1).sort((a, b) => a - b);
  const mean = deltas.reduce((a, b) => a + b, 0) / deltas.length;
  const p95 = deltas[Math.floor(deltas.length * 0.95)];
  console.log(JSON.stringify({
    charts: CHARTS,
    points_per_chart: POINTS,
    updates_per_s: Math.round(result.updates / (MEASURE_MS / 1000)),
    frames: deltas.length,
    frame_ms_mean: Number(mean.toFixed(2)),
    frame_ms_p95: Number(p95.toFixed(2)),
    redraws: result.redraws,
    errors,
  }));
  if (errors.length > 0) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
