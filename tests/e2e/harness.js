// The browser tests' harness: starts the debug server on a temporary SQLite
// file behind a small TCP proxy (so a test can cut the sockets as a network
// would), launches Debian's Chromium with fake camera and microphone, and
// talks to the API for setup.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BINARY = process.env.BEDSIDE_BIN ?? path.join(ROOT, 'target', 'debug', 'bedside');
export const CHROMIUM = process.env.BEDSIDE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(here, 'artifacts');

export const CHROMIUM_FLAGS = [
  '--use-fake-device-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A TCP proxy in front of the server; `dropWebSockets()` cuts every /ws connection without a close frame. */
async function startProxy(targetPort) {
  const connections = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const conn = { client, upstream, websocket: false };
    connections.add(conn);
    client.once('data', (chunk) => {
      conn.websocket = /^GET \/ws[ ?]/.test(chunk.toString('latin1', 0, 16));
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      connections.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  // Port 0: the system picks a free port as it binds, so none can take it first.
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    dropWebSockets() {
      let dropped = 0;
      for (const conn of [...connections]) {
        if (!conn.websocket) continue;
        // resetAndDestroy sends RST: both ends see a dead connection, no close frame.
        conn.client.resetAndDestroy?.() ?? conn.client.destroy();
        conn.upstream.resetAndDestroy?.() ?? conn.upstream.destroy();
        connections.delete(conn);
        dropped += 1;
      }
      return dropped;
    },
    close() {
      for (const conn of connections) { conn.client.destroy(); conn.upstream.destroy(); }
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Bedside's port was free when picked and taken before Bedside bound it. */
class PortTaken extends Error {}

/** Starts `bedside serve --demo` behind the test proxy; `env` adds settings. */
export async function startServer(env = {}) {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`cargo build -p bedside\` first`);
  // Another process (any outgoing connection's local port) can take the
  // port between `freePort` and Bedside's bind: then again, on another.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await launchServer(env);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 5) throw error;
    }
  }
}

async function launchServer(env) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-e2e-'));
  const serverPort = await freePort();
  const proxy = await startProxy(serverPort);
  const base = `http://127.0.0.1:${proxy.port}`;
  const child = spawn(BINARY, ['serve', '--demo'], {
    cwd: dir,
    env: {
      ...process.env,
      BEDSIDE_ADDR: `127.0.0.1:${serverPort}`,
      DATABASE_URL: `sqlite://${path.join(dir, 'bedside.db')}`,
      BEDSIDE_PUBLIC_URL: base,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
      const Failure = /Address already in use/.test(stderr) ? PortTaken : Error;
      throw new Failure(`bedside exited early (${child.exitCode}):\n${stderr}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${serverPort}/readyz`);
      if (response.ok && /password:/.test(stdout)) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`bedside did not become ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // "    scheduler  scheduler  password: bedside-demo"
  const accounts = {};
  for (const match of stdout.matchAll(/^\s+(\S+)\s+(\S+)\s+password: (\S+)\s*$/gm)) {
    accounts[match[1]] = { username: match[1], role: match[2], password: match[3] };
  }
  return {
    base,
    proxy,
    accounts,
    logs: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small API client for test setup. */
export function apiFor(base) {
  return async function api(pathname, { method = 'GET', body, token } = {}) {
    const response = await fetch(`${base}/api/v1${pathname}`, {
      method,
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

export async function signInApi(server, username) {
  const { password } = server.accounts[username];
  return apiFor(server.base)('/auth/login', { method: 'POST', body: { username, password } });
}

/**
 * A patient booked by the scheduler into a new queue named `queueName`, and
 * checked in with the visit's patient token unless `checkIn` is false. The
 * patient is the demo patient `family`, or one created from `newPatient` (a
 * POST /patients body). `checkInBody` adds to the check-in's consent.
 * Returns { scheduler (the sign-in answer), queue, patient, visit }.
 */
export async function waitingVisit(server, queueName, {
  family = 'Lovelace', newPatient, reason = 'Review', priority, checkIn = true, checkInBody = {},
} = {}) {
  const api = apiFor(server.base);
  const scheduler = await signInApi(server, 'scheduler');
  const { token } = scheduler;
  const queue = await api('/queues', { method: 'POST', token, body: { name: queueName } });
  const patient = newPatient
    ? await api('/patients', { method: 'POST', token, body: newPatient })
    : (await api(`/patients?name=${family}`, { token }))[0];
  // An undefined priority is left out of the JSON: the server's default.
  const visit = await api('/visits', { method: 'POST', token, body: { patient_id: patient.id, queue_id: queue.id, reason, priority } });
  if (checkIn) {
    await api(`/visits/${visit.id}/check-in`, {
      method: 'POST', token: visit.patient_token, body: { consent_to_telehealth: true, ...checkInBody },
    });
  }
  return { scheduler, queue, patient, visit };
}

/** Chromium with fake media devices; `fakeUi` auto-accepts the permission prompt; `args` adds flags. */
export async function launchChromium({ fakeUi = true, args = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\``);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...(fakeUi ? ['--use-fake-ui-for-media-stream'] : []), ...CHROMIUM_FLAGS, ...args],
  });
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Collects the page's console errors and uncaught exceptions for the failure message. */
export function watchPage(page, label) {
  const problems = [];
  const recent = [];
  recentLines.set(page, recent);
  page.on('pageerror', (error) => problems.push(`${label}: ${error.message}`));
  page.on('console', (message) => {
    if (process.env.BEDSIDE_E2E_DEBUG) console.error(`[${label}] ${message.type()}: ${message.text()}`);
    recent.push(`${message.type()}: ${message.text()}`);
    if (recent.length > 30) recent.shift();
    // A failed request is logged by the browser too; responses are judged below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`${label} console: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`${label}: ${response.status()} from ${new URL(response.url()).pathname}`);
  });
  page.on('dialog', (dialog) => dialog.accept());
  return problems;
}

/** Each watched page's last console lines, for `describePage`. */
const recentLines = new WeakMap();

/**
 * What a page shows, for a failure message: its address, its socket's state
 * (`#live`), its last notice (`#toast`) and, when watched, its last console lines.
 */
export async function describePage(page) {
  const shown = async (selector) => (await page.locator(selector).first().textContent({ timeout: 1_000 }).catch(() => null))?.trim();
  return [
    `page ${page.url()}`,
    `live: ${await shown('#live')}`,
    `toast: ${await shown('#toast')}`,
    ...(recentLines.get(page) ?? []).map((line) => `console ${line}`),
  ].join('\n');
}

/**
 * Waits for the console to list the waiting visit and admits it; when it is
 * not listed, fails saying what the page and the server showed.
 */
export async function admitFromConsole(page, server, visitId, { timeout = 30_000 } = {}) {
  const admit = page.getByTestId(`admit-${visitId}`);
  try {
    await admit.waitFor({ timeout });
  } catch {
    const warnings = server.logs().split('\n').filter((line) => /WARN|ERROR/.test(line)).slice(-20);
    throw new Error(`the console did not list visit ${visitId} within ${timeout} ms\n${await describePage(page)}\nserver:\n${warnings.join('\n')}`);
  }
  await admit.click();
}

/** Polls `check` until it returns a truthy value. */
export async function eventually(check, { timeout = 15_000, interval = 200, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${last?.message ?? JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Size and play position of a page's remote video. */
export async function remoteVideo(page) {
  return page.getByTestId('remote-video').evaluate((v) => ({
    width: v.videoWidth, height: v.videoHeight, time: v.currentTime, paused: v.paused,
  }));
}

/** Asserts real frames arrive: the remote video has a size and its time moves on. */
export async function framesArrive(page) {
  const first = await eventually(async () => {
    const v = await remoteVideo(page);
    return v.width > 0 && v.height > 0 && v.time > 0 ? v : null;
  }, { message: 'remote video frames', timeout: 20_000 });
  await eventually(async () => (await remoteVideo(page)).time > first.time + 0.5, { message: 'remote video time to advance' });
  return first;
}

/** Fails when the page is wider than `width` (it would scroll sideways on a phone). */
export async function assertFits(page, width = 375) {
  const actual = await page.evaluate(() => document.documentElement.scrollWidth);
  if (actual > width) throw new Error(`${new URL(page.url()).pathname} is ${actual}px wide, more than ${width}px`);
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (WCAG 2.1 A and AA rules and best practices) on the page as
 * it is now; fails on any serious or critical violation, naming each.
 */
export async function assertAccessible(page, label) {
  // evaluate() runs outside the page's CSP, which forbids injected scripts.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  if (violations.length) throw new Error(`${label}: accessibility violations\n  ${violations.join('\n  ')}`);
}
