// Patient safety in real Chromium: a patient whose check-in suggests an
// emergency sees the advice at once (and again after a reload), the
// clinicians on duty are alerted live, and the chart reads in plain words
// with the clinic's units. Each page is checked with axe-core.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, artifactPath, watchPage, eventually,
  assertAccessible, assertFits, waitingVisit,
} from './harness.js';

let browser;
const servers = [];

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const server of servers) await server.stop();
});

async function start(env) {
  const server = await startServer(env);
  servers.push(server);
  return server;
}

async function signIn(server, context, username, problems) {
  const page = await context.newPage();
  problems.push(watchPage(page, username));
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(server.accounts[username].password);
  await page.getByTestId('sign-in').click();
  return page;
}

/** The patient's steps up to check-in, with `symptom` and vitals typed in. */
async function checkIn(page, { symptom, temperature, unit, respiratoryRate }) {
  await page.getByTestId('device-continue').click();
  await page.getByTestId('consent').check();
  await page.getByTestId('consent-continue').click();
  await page.getByTestId('symptoms').fill(symptom);
  await page.getByText('Add measurements (optional)').click();
  assert.equal(await page.locator('#temperature-unit').textContent(), unit);
  await page.getByTestId('vital-temperature').fill(String(temperature));
  await page.getByLabel(/Breathing rate/).fill(String(respiratoryRate));
  await page.getByTestId('check-in').click();
}

test('an emergency at check-in reaches the patient at once and alerts the console live', async () => {
  const server = await start();
  const problems = [];
  const { visit } = await waitingVisit(server, 'Urgent care', { reason: 'Unwell', checkIn: false });

  const consoleContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await signIn(server, consoleContext, 'dr.grey', problems);
  await console_.waitForURL('**/clinician');
  await console_.getByTestId('queue').getByText('Urgent care').waitFor();
  await eventually(() => console_.locator('#live').evaluate((el) => el.dataset.state === 'open'), { message: 'console socket' });
  await assertAccessible(console_, 'console, no alert');

  const patientContext = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(visit.join_url);
  // A US clinic: the temperature is asked in °F.
  await patient.getByTestId('device-continue').waitFor();
  await checkIn(patient, { symptom: 'crushing chest pain', temperature: 101.3, unit: '(°F)', respiratoryRate: 26 });

  const advice = patient.getByTestId('emergency-advice');
  await advice.waitFor();
  const text = await advice.textContent();
  assert.match(text, /emergency care/);
  assert.match(text, /call 911/);
  assert.match(text, /heart attack/);
  assert.equal(await patient.getByTestId('emergency-call').getAttribute('href'), 'tel:911');
  assert.equal(await advice.getAttribute('role'), 'alert');
  assert.equal(await patient.evaluate(() => document.activeElement?.id), 'emergency-title', 'focus moves to the advice');
  await patient.getByTestId('waiting-position').waitFor();
  await assertFits(patient);
  await assertAccessible(patient, 'patient, emergency advice at 375 px');
  await patient.screenshot({ path: artifactPath('patient-emergency-advice.png'), fullPage: true });

  // Every clinician on duty sees a distinct alert, and the visit is first.
  const alert = console_.getByTestId(`emergency-alert-${visit.id}`);
  await alert.waitFor();
  assert.match(await alert.textContent(), /Emergency: Ada Lovelace — Chest pain/);
  assert.match(await alert.textContent(), /not yet confirmed reading/);
  assert.equal(await alert.getAttribute('role'), 'alert');
  assert.equal(await console_.getByTestId('alert-sound').isChecked(), true);
  await assertAccessible(console_, 'console with an emergency alert');
  await console_.screenshot({ path: artifactPath('clinician-emergency-alert.png'), fullPage: true });

  // The patient confirms reading it and keeps waiting; the console hears it.
  await patient.getByTestId('emergency-acknowledge').click();
  await eventually(async () => /If you feel worse, call 911 now/.test(await advice.textContent()), { message: 'compact advice' });
  await eventually(async () => /has read the emergency advice/.test(await alert.textContent()), { message: 'console told the advice was read' });
  assert.ok(await patient.getByTestId('waiting-position').isVisible());

  // A reload keeps the advice on screen.
  await patient.reload();
  await eventually(async () => /call 911/.test(await patient.getByTestId('emergency-advice').textContent()), { message: 'advice after reload' });

  // Sound can be turned off, and stays off for the next sign-in on this browser.
  await console_.getByTestId('alert-sound').uncheck();
  await console_.reload();
  await console_.getByTestId(`emergency-alert-${visit.id}`).waitFor();
  assert.equal(await console_.getByTestId('alert-sound').isChecked(), false);

  // Admitting from the alert clears it; the chart reads in plain words.
  await console_.getByTestId(`emergency-alert-${visit.id}`).getByRole('button', { name: /Admit Ada Lovelace now/ }).click();
  await eventually(async () => (await console_.getByTestId(`emergency-alert-${visit.id}`).count()) === 0, { message: 'alert cleared on admit' });
  const vitals = console_.getByTestId('chart-vitals');
  await eventually(async () => /Temperature/.test(await vitals.textContent()), { message: 'vitals in the chart' });
  const vitalsText = await vitals.textContent();
  assert.match(vitalsText, /38\.5 °C \(101\.3 °F\)/);
  assert.match(vitalsText, /Respiratory rate26\/min/);
  assert.match(vitalsText, /NEWS2 total score: \d+/);
  assert.doesNotMatch(vitalsText, /\d score\b/);
  const cards = console_.getByTestId('cds-cards');
  await eventually(async () => /NEWS2/.test(await cards.textContent()), { message: 'decision-support cards' });
  const cardText = await cards.textContent();
  assert.match(cardText, /Respiratory rate 26\/min: 3 points/);
  assert.match(cardText, /this visit/);
  assert.doesNotMatch(cardText, /respiratory_rate|spo2|temperature_c/);
  await assertAccessible(console_, 'console in consult');

  assert.deepEqual(problems.flat(), []);
});

test('a clinic in Great Britain tells the patient to call 999 and asks the temperature in °C', async () => {
  const server = await start({ BEDSIDE_REGION: 'GB' });
  const problems = [];
  const { visit } = await waitingVisit(server, 'Walk-in', { family: 'Turing', reason: 'Unwell', checkIn: false });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const patient = await context.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(visit.join_url);
  await patient.getByTestId('device-continue').waitFor();
  await checkIn(patient, { symptom: 'worst headache of my life', temperature: 37.2, unit: '(°C)', respiratoryRate: 16 });
  const advice = patient.getByTestId('emergency-advice');
  await advice.waitFor();
  const text = await advice.textContent();
  assert.match(text, /call 999/);
  assert.match(text, /haemorrhage/);
  assert.doesNotMatch(text, /911/);
  assert.equal(await patient.getByTestId('emergency-call').getAttribute('href'), 'tel:999');
  await assertAccessible(patient, 'patient, GB emergency advice at desktop width');
  assert.deepEqual(problems.flat(), []);
});
