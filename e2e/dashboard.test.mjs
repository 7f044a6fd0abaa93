// End to end: a real `layercast serve` (embedded mode), the real dashboard in Chromium.
//
// Drops NDJSON files into the inbox and watches the page follow: the first file's totals
// arrive live, a malformed line is reported by /api/ingest, the page survives a restart of
// the server (reconnects by itself with protocol 2's resume, and the restarted server's new
// epoch answers it with a snapshot flagged as such), and updates after the restart arrive on
// the reconnected socket.
//
// Environment:
//   LAYERCAST_BIN         the backend binary (default <repo>/target/debug/layercast, or
//                         $CARGO_TARGET_DIR/debug/layercast when CARGO_TARGET_DIR is set)
//   LAYERCAST_STATIC_DIR  a built dashboard to serve with --static-dir (default: none, the one
//                         the binary embeds: a debug build reads <repo>/frontend/dist)
//   CHROMIUM_PATH         the browser (default /usr/bin/chromium)
// Artifacts (git-ignored) in e2e/artifacts: server.log, browser.log, dashboard.png, login.png, and
// failure.png when a step fails.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import {
  ARTIFACTS, BIN, CHROMIUM, CHROMIUM_ARGS, REPO, START_DEADLINE_MS, STATIC_DIR, Server,
  UI_DEADLINE_MS, WINDOW_MS, eventually, expectText, freePort,
} from './support.mjs';

// ---------------------------------------------------------------------------------------
// Test data

/**
 * Event time of the first file: 1 s into the window that is current when it is dropped, so
 * that its window is the newest; the second file (1 s later) falls in the same window.
 */
let T;
const FIRST_FILE = 'e2e-first.ndjson';
const SECOND_FILE = 'e2e-second.ndjson';
/** 1-based line of the malformed record in the first file. */
const BAD_LINE = 21;

/** `count` L3 events of 100 bytes each, with distinct entities. */
function l3Events(count, { from, ts }) {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return JSON.stringify({
      ts,
      layer: 'L3',
      entity: `10.0.${n >> 8}.${n & 255}>10.1.0.1`,
      bytes: 100,
      packets: 1,
    });
  });
}

// ---------------------------------------------------------------------------------------
// Fixture

let server;
let dataDir;
let profileDir;
let browser;
let page;
const pageErrors = [];
let failed = false;

process.on('exit', () => server?.killNow());

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const name of ['server.log', 'browser.log', 'dashboard.png', 'failure.png']) {
    fs.rmSync(path.join(ARTIFACTS, name), { force: true });
  }
  assert.ok(fs.existsSync(BIN), `no backend binary at ${BIN} (build it, or set LAYERCAST_BIN)`);
  const dist = STATIC_DIR ?? path.join(REPO, 'frontend', 'dist');
  assert.ok(fs.existsSync(path.join(dist, 'index.html')),
    `no dashboard in ${dist} (run scripts/build-frontend, or set LAYERCAST_STATIC_DIR)`);

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layercast-e2e-data-'));
  server = new Server({ port: await freePort(), dataDir, logFile: path.join(ARTIFACTS, 'server.log') });
  await server.start();

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layercast-e2e-chromium-'));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  page = await openDashboard();
});

after(async () => {
  if (failed && page) {
    await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true })
      .catch(() => {});
  }
  await browser?.close().catch(() => {});
  await server?.stop().catch(() => server.killNow());
  for (const dir of [dataDir, profileDir]) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Opens a tab on the dashboard and records what it logs, for e2e/artifacts/browser.log. */
async function openDashboard() {
  const tab = await browser.newPage();
  const log = path.join(ARTIFACTS, 'browser.log');
  tab.on('console', (msg) => fs.appendFileSync(log, `[${msg.type()}] ${msg.text()}\n`));
  tab.on('pageerror', (err) => {
    pageErrors.push(err);
    fs.appendFileSync(log, `[pageerror] ${err.stack ?? err}\n`);
  });
  await tab.goto(`${server.base}/`);
  return tab;
}

/** A test that is skipped once an earlier one failed: each step builds on the last. */
function step(name, fn) {
  test(name, { timeout: 3 * START_DEADLINE_MS }, async (t) => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn(t);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

// ---------------------------------------------------------------------------------------
// Steps

step('the dashboard connects and lists the seven layers, empty', async () => {
  await expectText(page, 'connection', 'live', { attr: 'data-state' });
  for (let n = 1; n <= 7; n += 1) {
    assert.equal(await page.getByTestId(`layer-L${n}`).count(), 1, `card of L${n}`);
    await expectText(page, `events-L${n}`, '0');
    await expectText(page, `bytes-L${n}`, '0');
  }
  assert.match(await page.getByTestId('layer-L1').innerText(), /no data yet/);
});

step('every page path answers with the app; unknown API paths with a JSON 404', async () => {
  const index = await (await fetch(`${server.base}/`)).text();
  for (const route of ['/layers/L3', '/entities/L3/10.0.1.0%2F24', '/alerts', '/admin/rules']) {
    const res = await fetch(`${server.base}${route}`);
    assert.equal(res.status, 200, `GET ${route}`);
    assert.match(res.headers.get('content-type'), /text\/html/, route);
    assert.equal(await res.text(), index, `${route} is the app`);
  }
  const missing = await fetch(`${server.base}/api/no-such-route`);
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).error, /no-such-route/);
  assert.equal((await fetch(`${server.base}/no-such-file.js`)).status, 404);
});
step('a dropped file shows up live; its malformed line is reported', async () => {
  T = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 1_000;
  const lines = l3Events(42, { from: 0, ts: new Date(T).toISOString() });
  lines.splice(BAD_LINE - 1, 0, '{"ts": "not a time", "layer": "L3"');
  // Last, an hour-old record of the first line's entity (so of its partition, whose watermark
  // that line set): far later than the out-of-orderness plus grace, so it is dropped, counted
  // and shown, and the layer's totals do not move.
  lines.push(l3Events(1, { from: 0, ts: new Date(T - 3_600_000).toISOString() })[0]);
  server.dropFile(FIRST_FILE, lines);

  await expectText(page, 'events-L3', '42');
  await expectText(page, 'bytes-L3', '4200');
  // Other layers stay empty.
  await expectText(page, 'events-L4', '0');
  // The partitions table: every partition caught up (lag 0), 43 records durable across them
  // (the late one too: it is consumed, counted and dead-lettered),
  // made durable by this node.
  await page.waitForFunction(() => {
    const lags = [...document.querySelectorAll('[data-testid^="lag-"]')];
    const durable = [...document.querySelectorAll('[data-testid^="partition-"]')]
      .map((row) => Number(row.children[2].textContent))
      .filter((n) => !Number.isNaN(n))
      .reduce((a, b) => a + b, 0);
    return lags.length > 0 && lags.every((el) => el.textContent.trim() === '0') && durable === 43;
  }, null, { timeout: UI_DEADLINE_MS });
  assert.match(await page.getByTestId('partitions').innerText(), /this node/);
  await expectText(page, 'late-total', '1');
  assert.equal((await server.json('/api/late')).total, 1);
  assert.match(await page.getByTestId('anomalies').innerText(), /none in the last 24 hours/);

  await eventually(async () => {
    const report = await server.json('/api/ingest');
    assert.equal(report.errors_total, 1, JSON.stringify(report));
    const sample = report.error_samples.find((s) => s.file.includes(FIRST_FILE));
    assert.ok(sample, `no error sample names ${FIRST_FILE}: ${JSON.stringify(report.error_samples)}`);
    assert.equal(sample.line, BAD_LINE, JSON.stringify(sample));
    assert.ok(sample.reason.length > 0, 'the sample says why');
  }, { what: '/api/ingest reports the malformed line' });
});

step('the page reconnects to a restarted server and gets the totals from the snapshot',
  async () => {
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, signal: null }, 'the server stops cleanly on SIGTERM');
    await expectText(page, 'connection', 'reconnecting', { attr: 'data-state' });

    await server.start();
    // A new process, a new epoch: the resume is answered with a snapshot.
    await expectText(page, 'connection', 'snapshot', { attr: 'data-state' });
    await expectText(page, 'events-L3', '42');
    await expectText(page, 'bytes-L3', '4200');

    // The reconnected page already had 42 on screen; a fresh tab can only learn it from
    // the snapshot of the restarted server.
    const fresh = await openDashboard();
    try {
      await expectText(fresh, 'connection', 'live', { attr: 'data-state' });
      await expectText(fresh, 'events-L3', '42');
      await expectText(fresh, 'bytes-L3', '4200');
    } finally {
      await fresh.close();
    }
  });

step('updates after the restart arrive on the reconnected socket', async () => {
  // Same window, integer epoch-millisecond timestamps this time (the other accepted form).
  server.dropFile(SECOND_FILE, l3Events(8, { from: 42, ts: T + 1_000 }));
  await expectText(page, 'events-L3', '50');
  await expectText(page, 'bytes-L3', '5000');

  // The newest row of the L3 window list is that same window.
  const firstRow = page.getByTestId('layer-L3').locator('table.windows tbody tr').first();
  assert.match(await firstRow.innerText(), /\b50\b[\s\S]*\b5000\b/);

  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  assert.deepEqual(pageErrors.map(String), [], 'no uncaught errors in the page');
});

step('an admin logs in on the login page and out again; anonymous callers cannot change anything',
  async () => {
    await expectText(page, 'user', 'anonymous viewer');
    const refused = await page.evaluate(async () => {
      const res = await fetch('/api/users', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'x', role: 'admin', password: 'xxxxxxxxxxxxxx' }),
      });
      return { status: res.status, body: await res.json() };
    });
    assert.equal(refused.status, 401, JSON.stringify(refused));
    assert.ok(refused.body.error.length > 0);

    const password = fs.readFileSync(path.join(dataDir, 'initial-admin-password'), 'utf8').trim();
    const tab = await browser.newPage();
    try {
      await tab.goto(`${server.base}/login`);
      await tab.locator('input[name="name"]').fill('admin');
      await tab.locator('input[name="password"]').fill('not the password');
      await tab.locator('button[type="submit"]').click();
      await tab.getByRole('alert').filter({ hasText: 'wrong user name or password' })
        .waitFor({ timeout: UI_DEADLINE_MS });
      await tab.screenshot({ path: path.join(ARTIFACTS, 'login.png') });
      await tab.locator('input[name="password"]').fill(password);
      await tab.locator('button[type="submit"]').click();
      await expectText(tab, 'user', 'admin (admin)');
      await expectText(tab, 'connection', 'live', { attr: 'data-state' });
      assert.equal(new URL(tab.url()).pathname, '/', 'back on the dashboard');
      // The session's cookie is HttpOnly: the page cannot read it.
      assert.equal(await tab.evaluate(() => document.cookie.includes('layercast_session')), false);
      await tab.getByRole('button', { name: 'Log out' }).click();
      await expectText(tab, 'user', 'anonymous viewer');
    } finally {
      await tab.close();
    }
  });
