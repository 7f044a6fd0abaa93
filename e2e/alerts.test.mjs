// The whole flow, with two people in two browser contexts against one server fed live
// by the simulator: an admin lowers a threshold in the rules editor, the planner's alerts page
// shows the alert firing without a reload and offers no acknowledge button; the admin
// acknowledges it and the planner sees that too. The entity page's chart data holds a forecast
// band and a capacity line (read from `window.__layercastCharts`, not from pixels). The server
// restarts and both pages reconnect by themselves.
//
// Environment as e2e/dashboard.test.mjs.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import {
  ARTIFACTS, BIN, CHROMIUM, CHROMIUM_ARGS, Server, UI_DEADLINE_MS, eventually, expectText, freePort,
} from './support.mjs';

const VIEWPORT = { width: 1280, height: 800 };
/** History before now, so that the forecaster has something to stand on (it needs an hour). */
const HISTORY_HOURS = 2;
/** Reading the history: a debug build takes about two objects a second, 170 of them. */
const INGEST_DEADLINE_MS = 300_000;
/** An alert, a forecast: the analysis runs when a window closes, after the grace period. */
const ANALYSIS_DEADLINE_MS = 240_000;
const PLANNER = { name: 'planner', password: 'planner-password-1', role: 'viewer' };
const RULE = 'e2e-l3-throughput';

let server;
let dataDir;
let browser;
let simulator;
let admin;
let planner;
let entity;

process.on('exit', () => {
  simulator?.kill('SIGKILL');
  server?.killNow();
});

async function login(ctx, name, password) {
  const res = await ctx.request.post(`${server.base}/api/login`, { data: { name, password } });
  assert.equal(res.status(), 200, `login of ${name}: ${await res.text()}`);
  return res.json();
}

async function person(who) {
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  const me = await login(ctx, who.name, who.password);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return { ctx, me, page, errors };
}

async function change(who, method, route, data) {
  const res = await who.ctx.request.fetch(`${server.base}${route}`, {
    method, data, headers: { 'X-CSRF-Token': who.me.csrf_token },
  });
  assert.ok(res.ok(), `${method} ${route}: ${res.status()} ${await res.text()}`);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layercast-e2e-alerts-'));
  server = new Server({ port: await freePort(), dataDir, logFile: path.join(ARTIFACTS, 'alerts-server.log') });
  await server.start();
  // Hours of history as fast as it goes, then live traffic at the wall clock's pace.
  const start = new Date(Date.now() - HISTORY_HOURS * 3_600_000).toISOString();
  const log = fs.openSync(path.join(ARTIFACTS, 'alerts-simulate.log'), 'w');
  const history = spawn(BIN, ['simulate', '--out', server.inbox, '--speed', 'max',
    '--duration', `${HISTORY_HOURS}h`, '--start', start, '--seed', '7'], { stdio: ['ignore', log, log] });
  assert.equal(await new Promise((r) => history.once('exit', r)), 0, 'history simulated');
  const written = fs.readdirSync(server.inbox).filter((name) => !name.startsWith('.')).length;
  simulator = spawn(BIN, ['simulate', '--out', server.inbox, '--speed', '1', '--seed', '8'],
    { stdio: ['ignore', log, log] });

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const password = fs.readFileSync(path.join(dataDir, 'initial-admin-password'), 'utf8').trim();
  admin = await person({ name: 'admin', password });
  await change(admin, 'POST', '/api/users', PLANNER);
  planner = await person(PLANNER);

  await eventually(async () => {
    const report = await server.json('/api/ingest');
    const done = report.files.filter((f) => f.status === 'done').length;
    assert.ok(done >= written, `${done} of ${written} files read`);
    const rows = await server.json('/api/windows?layer=L3');
    assert.ok(rows.length > 0, 'L3 windows');
    entity = rows.reduce((a, b) => (b.bytes_per_s > a.bytes_per_s ? b : a)).entity;
  }, { deadline: INGEST_DEADLINE_MS, what: 'traffic on L3' });
  // A rule that does not fire yet: its threshold far above the traffic.
  await change(admin, 'POST', '/api/rules', {
    id: RULE, layer: 'L3', entity, metric: 'bytes_per_s',
    condition: { signal: 'value', op: 'above', fire: 1e15 }, for_ms: 0,
  });
}, { timeout: 2 * INGEST_DEADLINE_MS });

after(async () => {
  simulator?.kill('SIGTERM');
  await browser?.close().catch(() => {});
  await server?.stop().catch(() => server.killNow());
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test('an admin lowers a threshold; the planner sees the alert fire live, then acknowledged',
  { timeout: 300_000 }, async () => {
    await planner.page.goto(`${server.base}/alerts`);
    await expectText(planner.page, 'connection', 'live', { attr: 'data-state' });

    // The admin edits the rule in the editor: fire above 1 byte/s.
    await admin.page.goto(`${server.base}/admin/rules`);
    await admin.page.getByTestId(`edit-${RULE}`).click();
    await admin.page.locator('input[name="fire"]').fill('1');
    await admin.page.getByTestId('rule-save').click();
    await admin.page.getByTestId('outcome-ok').waitFor({ timeout: UI_DEADLINE_MS });

    // The planner's page, never reloaded, shows it firing.
    const firing = planner.page.locator('[data-testid^="alert-state-"]', { hasText: 'firing' }).first();
    await firing.waitFor({ timeout: ANALYSIS_DEADLINE_MS });
    const id = (await firing.getAttribute('data-testid')).replace('alert-state-', '');
    assert.equal(await planner.page.locator('[data-testid^="ack-"]').count(), 0, 'a viewer has no acknowledge button');

    await admin.page.goto(`${server.base}/alerts`);
    const [answer] = await Promise.all([
      admin.page.waitForResponse((res) => res.url().endsWith(`/api/alerts/${id}/ack`)),
      admin.page.getByTestId(`ack-${id}`).click(),
    ]);
    assert.equal(answer.status(), 200, `acknowledge: ${answer.status()} ${await answer.text()}`);
    await planner.page.getByTestId(`alert-ack-${id}`).filter({ hasText: 'acknowledged' })
      .waitFor({ timeout: UI_DEADLINE_MS });
    assert.deepEqual([...admin.errors, ...planner.errors], []);
  });

test('the entity page charts a forecast band and a capacity line', { timeout: 300_000 },
  async () => {
    const rows = await server.json(`/api/windows?layer=L3`);
    const now = rows.filter((r) => r.entity === entity).reduce((a, b) => (b.start_ms > a.start_ms ? b : a));
    await change(admin, 'PUT', `/api/capacities/L3/${encodeURIComponent(entity)}`,
      { metric: 'bytes_per_s', capacity: now.bytes_per_s * 3 });
    await planner.page.goto(`${server.base}/entities/L3/${encodeURIComponent(entity)}?zoom=1d`);
    const chart = await planner.page.waitForFunction(() => {
      const c = window.__layercastCharts?.['entity-L3'];
      if (!c) return null;
      const at = (label) => c.data.ys[c.spec.series.findIndex((s) => s.label === label)];
      const band = at('forecast upper').some((v, i) => v !== null && at('forecast lower')[i] !== null && v >= at('forecast lower')[i]);
      const capacity = at('capacity').length > 0 && at('capacity').every((v) => v !== null);
      return band && capacity ? c : null;
    }, null, { timeout: ANALYSIS_DEADLINE_MS }).then((h) => h.jsonValue());
    const capacity = chart.data.ys[chart.spec.series.findIndex((s) => s.label === 'capacity')][0];
    const want = now.bytes_per_s * 3 * 8;
    // The same product, computed in another order: equal up to rounding.
    assert.ok(Math.abs(capacity - want) <= want * 1e-12, `the capacity line is in bits/s: ${capacity}, want ${want}`);
  });

test('after a server restart both pages reconnect by themselves', { timeout: 300_000 },
  async () => {
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, signal: null });
    for (const who of [admin, planner]) {
      await expectText(who.page, 'connection', 'reconnecting', { attr: 'data-state' });
    }
    await server.start();
    for (const who of [admin, planner]) {
      await expectText(who.page, 'connection', 'snapshot', { attr: 'data-state', deadline: 60_000 });
    }
    // The entity page's chart is still there and follows the restarted server.
    await planner.page.waitForFunction(() => (window.__layercastChartStats?.updates ?? 0) > 0, null,
      { timeout: ANALYSIS_DEADLINE_MS });
    assert.deepEqual([...admin.errors, ...planner.errors], []);
  });
