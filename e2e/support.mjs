// What the browser tests share: the server under test (a real `layercast serve` on a free
// loopback port), the browser, and waiting with a deadline rather than sleeping.
//
// Environment (as e2e/dashboard.test.mjs describes):
//   LAYERCAST_BIN, LAYERCAST_STATIC_DIR, CHROMIUM_PATH

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = path.join(REPO, 'e2e', 'artifacts');
export const BIN =
  process.env.LAYERCAST_BIN ??
  path.join(path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug', 'layercast');
export const STATIC_DIR = process.env.LAYERCAST_STATIC_DIR;
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The backend's tumbling window length. */
export const WINDOW_MS = 10_000;
/** Deadline for the server to report healthy: the embedded broker and database start first. */
export const START_DEADLINE_MS = 60_000;
/** Deadline for anything the page or the API should show after an action. */
export const UI_DEADLINE_MS = 30_000;
/** Deadline for the server to exit after SIGTERM before it is killed. */
export const STOP_DEADLINE_MS = 15_000;
/** How often /api endpoints are polled while waiting (the page is watched, not polled). */
export const POLL_INTERVAL_MS = 100;

// ---------------------------------------------------------------------------------------
// The server under test

/** A port that was free a moment ago: the server binds it itself, and binds it again on restart. */
export async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export class Server {
  constructor({ port, dataDir, logFile }) {
    this.port = port;
    this.dataDir = dataDir;
    this.logFile = logFile;
    this.child = null;
    this.exited = null;
    this.starts = 0;
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  get inbox() {
    return path.join(this.dataDir, 'inbox');
  }

  async start() {
    this.starts += 1;
    const log = fs.createWriteStream(this.logFile, { flags: 'a' });
    log.write(`\n===== start ${this.starts} at ${new Date().toISOString()} =====\n`);
    const args = ['serve', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`,
      ...(STATIC_DIR ? ['--static-dir', STATIC_DIR] : [])];
    const child = spawn(BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { RUST_LOG: 'info', ...process.env },
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        log.end(`===== exit code=${code} signal=${signal} =====\n`);
        resolve({ code, signal });
      });
    });
    child.once('error', (err) => log.write(`spawn error: ${err}\n`));
    await this.waitHealthy();
  }

  /** Polls /api/health until it says ok; fails early if the process dies. */
  async waitHealthy() {
    let exitedEarly = null;
    this.exited.then((status) => { exitedEarly = status; });
    let last = 'no answer';
    await eventually(async () => {
      if (exitedEarly) {
        throw new Fatal(`server exited while starting (${JSON.stringify(exitedEarly)}); see ${this.logFile}`);
      }
      try {
        const res = await fetch(`${this.base}/api/health`);
        last = `${res.status} ${await res.text()}`;
      } catch (err) {
        last = String(err.cause ?? err);
      }
      assert.match(last, /"status"\s*:\s*"ok"/, `health: ${last}`);
    }, { deadline: START_DEADLINE_MS, what: 'server healthy' });
  }

  /** SIGTERM, then waits for the exit (SIGKILL past the deadline). Returns the exit status. */
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.exited ? this.exited : null;
    }
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), STOP_DEADLINE_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Synchronous last resort for process exit: never leave a server behind. */
  killNow() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
  }

  async json(route) {
    const res = await fetch(`${this.base}${route}`);
    assert.equal(res.status, 200, `GET ${route}`);
    return res.json();
  }

  /**
   * Puts a file in the inbox the way a producer must: written under a dot name (ignored by
   * the server), then renamed, so the server never sees a half-written file.
   */
  dropFile(name, lines) {
    fs.mkdirSync(this.inbox, { recursive: true });
    const tmp = path.join(this.inbox, `.${name}.tmp`);
    fs.writeFileSync(tmp, lines.map((l) => `${l}\n`).join(''));
    fs.renameSync(tmp, path.join(this.inbox, name));
  }
}

// ---------------------------------------------------------------------------------------
// Waiting with a deadline

/** An error that `eventually` must not retry. */
export class Fatal extends Error {}

/** Retries `check` until it passes or the deadline passes; for things only polling can see. */
export async function eventually(check, { deadline = UI_DEADLINE_MS, what = 'condition' } = {}) {
  const until = Date.now() + deadline;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (err instanceof Fatal || Date.now() > until) {
        err.message = `${what}: not met within ${deadline} ms: ${err.message}`;
        throw err;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/**
 * Waits until the element with `data-testid=testId` has exactly the text `want` (and, when
 * given, the attribute `attr` = `want`). The browser checks on every frame, so nothing is slept.
 */
export async function expectText(page, testId, want, { attr, deadline = UI_DEADLINE_MS } = {}) {
  try {
    await page.waitForFunction(
      ({ testId, want, attr }) => {
        const el = document.querySelector(`[data-testid="${testId}"]`);
        return el !== null && el.textContent.trim() === want &&
          (attr === undefined || el.getAttribute(attr) === want);
      },
      { testId, want, attr },
      { timeout: deadline },
    );
  } catch (err) {
    const el = page.locator(`[data-testid="${testId}"]`);
    const actual = (await el.count()) > 0 ? await el.first().textContent() : '(no such element)';
    throw new Error(`${testId}: wanted ${JSON.stringify(want)} within ${deadline} ms, ` +
      `found ${JSON.stringify(actual)} (${err.message.split('\n')[0]})`);
  }
}

