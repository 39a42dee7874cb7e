// Call quality under real delay and loss: each browser runs in a network
// namespace of its own, and neither can reach the other, so the call goes
// through TURN (coturn, with credentials from Bedside's media plan). The
// patient reaches coturn only through an impairing UDP relay of this
// test's own (./turn.js), which delays and drops the patient's datagrams
// both ways while told to. Under added delay the round trip the pages
// measure reaches the server's timeline and both indicators name the delay;
// under loss both say the connection is unstable; when the impairment
// stops, the round trip and the indicators come back.
//
// Needs root (for `ip netns`), as CI runs; it fails otherwise.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, apiFor, signInApi, watchPage, eventually, remoteVideo, admitFromConsole, waitingVisit } from './harness.js';
import { Namespace, forward } from './netns.js';
import { startCoturn, startImpairingRelay } from './turn.js';

// This test's ports: TCP 18400 (the pages' server address), UDP 18440 (the
// relay), 18441 (coturn) and 18450–18479 (coturn's relayed addresses).
const WEB_PORT = 18400;
const RELAY_PORT = 18440;
const COTURN_PORT = 18441;
const TURN_SECRET = 'bedside-e2e-turn-secret';
/** Added each way on the patient's path: the round trip grows by twice this. */
const DELAY_MS = 200;
/** The share of the patient's datagrams dropped, each way. */
const LOSS = 0.25;

const tag = String(process.pid % 10_000);
const SUBNET = 16 + (process.pid % 200);
const patientNs = new Namespace({
  name: `bqi${tag}p`,
  hostIf: `bqi${tag}ph`,
  nsIf: `bqi${tag}pn`,
  hostIp: `10.233.${SUBNET}.1`,
  nsIp: `10.233.${SUBNET}.2`,
  defaultRoute: false,
});
// The clinician reaches the host only at the patient side's host address
// (server and relay): not the patient's own address.
const clinicianNs = new Namespace({
  name: `bqi${tag}c`,
  hostIf: `bqi${tag}ch`,
  nsIf: `bqi${tag}cn`,
  hostIp: `10.234.${SUBNET}.1`,
  nsIp: `10.234.${SUBNET}.2`,
  defaultRoute: false,
  routes: [patientNs.hostIp],
});
const HOST = patientNs.hostIp;

let server;
let forwarder;
let coturn;
let relay;
let dir;
let patientBrowser;
let clinicianBrowser;
const problems = [];

before(async () => {
  patientNs.make();
  clinicianNs.make();
  const base = `http://${HOST}:${WEB_PORT}`;
  // Relayed addresses on the clinician's side: the patient cannot reach
  // them but through coturn, so not past the impairing relay.
  coturn = await startCoturn({
    port: COTURN_PORT, relayIp: clinicianNs.hostIp, minPort: 18450, maxPort: 18479, secret: TURN_SECRET,
  });
  relay = await startImpairingRelay({
    host: HOST, port: RELAY_PORT, targetPort: COTURN_PORT, impaired: (address) => address === patientNs.nsIp,
  });
  server = await startServer({
    BEDSIDE_ALLOWED_ORIGINS: base,
    BEDSIDE_TURN_URLS: `turn:${HOST}:${RELAY_PORT}?transport=udp`,
    BEDSIDE_TURN_SECRET: TURN_SECRET,
  });
  forwarder = await forward(HOST, WEB_PORT, server.proxy.port);
  dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-impaired-'));
  patientBrowser = await patientNs.launchChromium(dir, { base });
  clinicianBrowser = await clinicianNs.launchChromium(dir, { base });
});

after(async () => {
  await patientBrowser?.close().catch(() => {});
  await clinicianBrowser?.close().catch(() => {});
  await forwarder?.close();
  await server?.stop();
  await relay?.close();
  await coturn?.stop();
  patientNs.remove();
  clinicianNs.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * An indicator that names neither loss nor delay. It may say "fair" for
 * video held back while the upload estimate climbs, which on a loaded
 * machine takes longer than this test waits.
 */
const SETTLED = /^(good|fair) \u2014 (?!the connection is unstable both ways|the connection has a long delay)/;

const text = async (page, id) => (await page.getByTestId(id).textContent()).trim();

/** Waits for a page's indicator to match; a failure names what it said last. */
async function indicator(page, who, pattern, what, timeout = 30_000) {
  let said = '';
  await eventually(async () => {
    said = await text(page, 'call-quality');
    return pattern.test(said);
  }, { message: `${who}\u2019s indicator ${what}`, timeout }).catch(async (e) => {
    const figures = await page.evaluate(() => ({
      mine: window.bedsideQuality?.mine, theirs: [...(window.bedsideQuality?.theirs?.values() ?? [])],
    })).catch(() => null);
    throw new Error(`${e.message}; it said \u201c${said}\u201d from ${JSON.stringify(figures)}`);
  });
}

test('delay and loss on the patient\u2019s path show in both indicators and the server\u2019s timeline, and the call recovers', async () => {
  const base = `http://${HOST}:${WEB_PORT}`;
  const api = apiFor(server.base);
  const clinicianLogin = await signInApi(server, 'dr.grey');
  const { visit } = await waitingVisit(server, 'Impaired network', { reason: 'Follow-up' });

  const clinicianContext = await clinicianBrowser.newContext({ viewport: { width: 1280, height: 900 } });
  const console_ = await clinicianContext.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await admitFromConsole(console_, server, visit.id);

  const patientContext = await patientBrowser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(`${base}/join/${visit.id}?t=${encodeURIComponent(visit.patient_token)}`);
  await patient.getByTestId('device-continue').click({ timeout: 30_000 });
  await eventually(async () => (await text(patient, 'call-state')) === 'connected', { message: 'patient connected', timeout: 40_000 });
  await eventually(async () => (await text(console_, 'call-state')) === 'connected', { message: 'clinician connected', timeout: 30_000 });

  // The patient's media goes through TURN, past the impairing relay.
  const latest = async (role) => {
    const call = await api(`/visits/${visit.id}/call`, { token: clinicianLogin.token });
    return call.latest.find((s) => s.role === role) ?? null;
  };
  await eventually(async () => (await latest('patient'))?.candidate === 'relay', { message: 'the patient\u2019s summaries over a relayed path', timeout: 20_000 });
  const before = relay.carriedFrom(patientNs.nsIp);
  await eventually(async () => (await remoteVideo(console_)).width > 0, { message: 'the patient\u2019s video at the clinician', timeout: 20_000 });
  assert.ok(relay.carriedFrom(patientNs.nsIp) > before, 'the patient\u2019s media passes the relay');
  const settled = await eventually(async () => {
    const s = await latest('patient');
    return typeof s?.rtt_ms === 'number' && s.rtt_ms < DELAY_MS ? s : null;
  }, { message: 'a round trip shorter than the delay to come', timeout: 20_000 });

  for (const [page, who] of [[patient, 'patient'], [console_, 'clinician']]) {
    await indicator(page, who, SETTLED, 'settled before');
  }

  // Delay: the round trip grows by twice the delay; both pages name it.
  relay.impair({ delayMs: DELAY_MS });
  await eventually(async () => {
    const s = await latest('patient');
    return s?.rtt_ms >= settled.rtt_ms + 1.5 * DELAY_MS;
  }, { message: 'the longer round trip in the server\u2019s timeline', timeout: 30_000, interval: 1_000 });
  for (const [page, who] of [[patient, 'patient'], [console_, 'clinician']]) {
    await indicator(page, who, /^(fair|poor) \u2014 the connection has a long delay$/, 'to name the delay');
  }

  // Loss instead: both pages say the connection is unstable, in plain words.
  relay.impair({ loss: LOSS });
  for (const [page, who] of [[patient, 'patient'], [console_, 'clinician']]) {
    await indicator(page, who, /^poor \u2014 the connection is unstable both ways$/, 'to call the connection unstable');
  }
  await eventually(async () => {
    const s = await latest('patient');
    return Math.max(s?.loss_in_pct ?? 0, s?.loss_out_pct ?? 0) >= 10;
  }, { message: 'the patient\u2019s loss in the server\u2019s timeline', timeout: 20_000, interval: 1_000 });

  // The impairment stops: the round trip and the indicators come back.
  relay.impair({});
  await eventually(async () => {
    const s = await latest('patient');
    return s?.rtt_ms < DELAY_MS && (s.loss_in_pct ?? 0) < 3 && (s.loss_out_pct ?? 0) < 3;
  }, { message: 'a short round trip and no loss in the timeline again', timeout: 30_000, interval: 1_000 });
  for (const [page, who] of [[patient, 'patient'], [console_, 'clinician']]) {
    await indicator(page, who, SETTLED, 'to recover');
  }
  const shown = await remoteVideo(console_);
  await eventually(async () => (await remoteVideo(console_)).time > shown.time + 0.5, { message: 'the patient\u2019s video to keep coming' });

  await patientContext.close();
  await clinicianContext.close();
  assert.deepEqual(problems.flat(), []);
});
