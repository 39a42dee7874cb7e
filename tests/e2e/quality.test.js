// Call quality under a real shaped network: the patient's Chromium runs in
// a Linux network namespace this test makes, joined to the host by a veth
// pair, with a `tbf` rate cap on its upload. Under the cap the patient's
// indicator turns poor ("your upload is weak"), its video steps down and
// falls back to audio only, and the clinician is told (`call-mode`); when
// the cap lifts, video comes back. The server's measure of the call
// (connected and audio-only seconds) matches what the pages showed, and a
// mostly audio-only call's claim carries the audio-only modifier. The
// clinician's shared screen (this tab) reaches the patient.
//
// Needs root (for `ip netns` and `tc`), as CI runs; it fails otherwise.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  startServer, apiFor, signInApi, watchPage, eventually, remoteVideo, CHROMIUM, artifactPath,
  assertAccessible, assertFits, admitFromConsole, waitingVisit,
} from './harness.js';
import { Namespace, browserFlags, forward } from './netns.js';

const tag = String(process.pid % 10_000);
const SUBNET = 16 + (process.pid % 200);
const ns = new Namespace({
  name: `bedside-q${tag}`,
  hostIf: `bq${tag}h`,
  nsIf: `bq${tag}n`,
  hostIp: `10.231.${SUBNET}.1`,
  nsIp: `10.231.${SUBNET}.2`,
});
/** Tight enough that video cannot be carried beside the audio. */
const CAP = '80kbit';

let server;
let forwarder;
let base;
let dir;
let patientBrowser;
let clinicianBrowser;
const problems = [];

before(async () => {
  ns.make();
  const port = 20_000 + (process.pid % 20_000);
  base = `http://${ns.hostIp}:${port}`;
  server = await startServer({ BEDSIDE_ALLOWED_ORIGINS: base });
  forwarder = await forward(ns.hostIp, port, server.proxy.port);
  dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-netns-'));
  patientBrowser = await ns.launchChromium(dir, { base });
  clinicianBrowser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...browserFlags(base), '--auto-accept-this-tab-capture'],
  });
});

after(async () => {
  await patientBrowser?.close().catch(() => {});
  await clinicianBrowser?.close().catch(() => {});
  await forwarder?.close();
  await server?.stop();
  ns.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const text = async (page, id) => (await page.getByTestId(id).textContent()).trim();

test('under a tight upload cap the call degrades to audio only, tells both sides, recovers, and is billed as measured', async () => {
  const api = apiFor(server.base);
  const clinicianLogin = await signInApi(server, 'dr.grey');
  const { visit } = await waitingVisit(server, 'Shaped network', { reason: 'Follow-up' });

  const clinicianContext = await clinicianBrowser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await clinicianContext.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await admitFromConsole(console_, server, visit.id);

  // The patient's upload is capped from the start.
  ns.cap(CAP);
  const patientContext = await patientBrowser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(`${base}/join/${visit.id}?t=${encodeURIComponent(visit.patient_token)}`);
  await patient.getByTestId('device-continue').click({ timeout: 30_000 });
  await eventually(async () => (await text(patient, 'call-state')) === 'connected', { message: 'patient connected', timeout: 40_000 });
  await eventually(async () => (await text(console_, 'call-state')) === 'connected', { message: 'clinician connected', timeout: 30_000 });
  const connectedAt = Date.now();

  // The pages' own view of the mode, sampled, to compare with the server's.
  let audioOnlyMs = 0;
  let sampledAt = Date.now();
  let levels = new Set();
  let watching = true;
  const watcher = (async () => {
    // Ends with the page too, so a failed assertion does not leave it looping.
    while (watching && !patient.isClosed()) {
      const [mode, level] = await Promise.all([
        text(patient, 'call-mode').catch(() => ''),
        patient.evaluate(() => window.bedsideQuality?.level ?? 0).catch(() => 0),
      ]);
      const now = Date.now();
      if (mode === 'audio only') audioOnlyMs += now - sampledAt;
      sampledAt = now;
      levels.add(level);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  // The clinician shares this tab: its frames reach the patient, in place of the camera.
  const camera = await eventually(async () => {
    const v = await remoteVideo(patient);
    return v.width > 0 ? v : null;
  }, { message: 'the clinician\u2019s camera at the patient', timeout: 20_000 });
  await console_.getByTestId('share-screen').click();
  const shared = await eventually(async () => {
    const v = await remoteVideo(patient);
    return v.width > 0 && v.width / v.height !== camera.width / camera.height ? v : null;
  }, { message: 'the shared tab at the patient', timeout: 20_000 });
  await eventually(async () => (await remoteVideo(patient)).time > shared.time + 0.5, { message: 'shared frames to keep arriving' });
  await console_.getByTestId('share-screen').click();

  // Under the cap: poor, stepped down, then audio only; the clinician is told.
  await eventually(async () => /^poor \u2014 your upload is weak/.test(await text(patient, 'call-quality')),
    { message: 'patient indicator poor because of its upload', timeout: 45_000 });
  await eventually(async () => (await text(patient, 'call-mode')) === 'audio only', { message: 'patient audio only', timeout: 60_000 });
  assert.ok(levels.has(1) || levels.has(2), `video stepped down before audio only (levels seen: ${[...levels]})`);
  await eventually(async () => (await text(console_, 'call-mode')) === 'audio only', { message: 'clinician told of audio only', timeout: 15_000 });
  // The clinician's indicator names the patient's connection: its own sending is held back
  // too (the patient's feedback crosses the capped path), but the patient's reports say so,
  // and when they come late that is taken as the patient's connection, not the clinician's.
  await eventually(async () => /^(poor|fair) \u2014 the other side\u2019s connection is unstable/.test(await text(console_, 'call-quality')),
    { message: 'clinician indicator naming the patient\u2019s connection', timeout: 20_000 });
  await patient.screenshot({ path: artifactPath('quality-patient-audio-only-375.png'), fullPage: true });

  // Stay until the call is mostly audio only, with room for the recovery.
  const measured = () => api(`/visits/${visit.id}/call`, { token: clinicianLogin.token });
  await eventually(async () => {
    const m = await measured();
    return m.audio_only_seconds * 2 > m.connected_seconds + 15;
  }, { message: 'a mostly audio-only call', timeout: 120_000, interval: 1_000 });

  // The cap lifts: video comes back by itself.
  ns.uncap();
  await eventually(async () => (await text(patient, 'call-mode')) === 'video', { message: 'video back', timeout: 40_000 });
  await eventually(async () => (await text(console_, 'call-mode')) === 'video', { message: 'clinician sees video back', timeout: 15_000 });
  await eventually(async () => !(await text(patient, 'call-quality')).startsWith('poor'), { message: 'indicator no longer poor', timeout: 20_000 });
  watching = false;
  await watcher;

  // The server measured what the pages showed, within a few seconds.
  const m = await measured();
  const elapsed = (Date.now() - connectedAt) / 1000;
  assert.ok(Math.abs(m.connected_seconds - elapsed) <= 8, `connected ${m.connected_seconds} s, pages ${elapsed} s`);
  assert.ok(Math.abs(m.audio_only_seconds - audioOnlyMs / 1000) <= 8, `audio-only ${m.audio_only_seconds} s, pages ${audioOnlyMs / 1000} s`);
  assert.equal(m.mostly_audio_only, true);
  assert.match(await text(console_, 'call-measure'), /connected min/);

  // The clinician closes with the measured modality; the claim says audio only.
  await console_.getByTestId('note-assessment').fill('Improving');
  await console_.getByTestId('diagnosis').fill('J06.9');
  await console_.getByTestId('minutes').fill('20');
  await console_.getByTestId('close-visit').click();
  const claim = await eventually(async () => {
    const claims = await api(`/claims?encounter_id=${visit.encounter_id}`, { token: (await signInApi(server, 'admin')).token });
    return claims[0];
  }, { message: 'the claim', timeout: 30_000, interval: 1_000 });
  assert.equal(claim.audio_only, true);
  assert.deepEqual(claim.lines[0].modifiers, ['93']);
  assert.match(claim.modality_reason, /Audio-only/);

  // The admin's operations view counts the call, with a per-day chart.
  const adminContext = await clinicianBrowser.newContext({ viewport: { width: 375, height: 812 } });
  const admin = await adminContext.newPage();
  problems.push(watchPage(admin, 'admin'));
  await admin.goto(`${server.base}/`);
  await admin.getByTestId('username').fill('admin');
  await admin.getByTestId('password').fill(server.accounts.admin.password);
  await admin.getByTestId('sign-in').click();
  await admin.waitForURL((url) => url.pathname !== '/');
  await admin.goto(`${server.base}/admin`);
  await eventually(async () => (await text(admin, 'ops-connect-rate')) !== '', { message: 'operations figures' });
  assert.equal(await text(admin, 'ops-audio-only'), '100%');
  assert.ok(await admin.getByTestId('ops-chart').locator('rect[data-series=audio_only_share]').count() >= 1);
  await assertAccessible(admin, 'admin-operations-375');
  await assertFits(admin);

  await patientContext.close();
  await clinicianContext.close();
  await adminContext.close();
  assert.deepEqual(problems.flat(), []);
});
