// The patient's screen share, which the clinician allows: until then the
// patient has no `share-screen` button; once allowed, the patient shares
// its tab and the tab's frames reach the clinician in place of the
// patient's camera; when the clinician takes the permission back, the
// patient's sharing stops and the camera returns. A patient who joins
// after the permission was given hears it too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, watchPage, eventually, remoteVideo, assertAccessible, assertFits, waitingVisit,
} from './harness.js';

let server;
let browser;
const problems = [];

before(async () => {
  server = await startServer();
  // The tab shares itself without a picker.
  browser = await launchChromium({ args: ['--auto-accept-this-tab-capture'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const text = async (page, id) => (await page.getByTestId(id).textContent()).trim();
const ratio = (v) => v.width / v.height;

test('the patient shares its screen only once the clinician allows it, and the frames reach the clinician', async () => {
  const { visit } = await waitingVisit(server, 'Screen share', { reason: 'Results' });

  const clinicianContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const console_ = await clinicianContext.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();

  const patientContext = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(visit.join_url);
  await patient.getByTestId('device-continue').click({ timeout: 30_000 });
  await eventually(async () => (await text(patient, 'call-state')) === 'connected', { message: 'patient connected', timeout: 40_000 });
  await eventually(async () => (await text(console_, 'call-state')) === 'connected', { message: 'clinician connected', timeout: 30_000 });
  const camera = await eventually(async () => {
    const v = await remoteVideo(console_);
    return v.width > 0 ? v : null;
  }, { message: 'the patient\u2019s camera at the clinician', timeout: 20_000 });

  // Not allowed yet: the patient has no button to share, nor to allow.
  assert.equal(await patient.getByTestId('share-screen').isVisible(), false, 'share-screen shown before the clinician allowed it');
  assert.equal(await patient.getByTestId('allow-share').isVisible(), false, 'the patient may not allow sharing');

  // The clinician allows it: the patient's button appears and works.
  await console_.getByTestId('allow-share').click();
  assert.equal(await console_.getByTestId('allow-share').getAttribute('aria-pressed'), 'true');
  await eventually(() => patient.getByTestId('share-screen').isVisible(), { message: 'the patient\u2019s share-screen button' });
  await assertAccessible(patient, 'patient-share-allowed-375');
  await assertFits(patient);
  await patient.getByTestId('share-screen').click();
  await eventually(async () => (await patient.getByTestId('share-screen').getAttribute('aria-pressed')) === 'true', { message: 'the patient sharing' });
  const shared = await eventually(async () => {
    const v = await remoteVideo(console_);
    // The tab's shape is not the camera's.
    return v.width > 0 && Math.abs(ratio(v) - ratio(camera)) > 0.2 ? v : null;
  }, { message: 'the patient\u2019s shared tab at the clinician', timeout: 20_000 });
  await eventually(async () => (await remoteVideo(console_)).time > shared.time + 0.5, { message: 'shared frames to keep arriving' });

  // The clinician takes it back: sharing stops and the camera returns.
  await console_.getByTestId('allow-share').click();
  await eventually(async () => !(await patient.getByTestId('share-screen').isVisible()), { message: 'the patient\u2019s button gone' });
  await eventually(async () => {
    const v = await remoteVideo(console_);
    return v.width > 0 && Math.abs(ratio(v) - ratio(camera)) < 0.05;
  }, { message: 'the patient\u2019s camera back at the clinician', timeout: 20_000 });

  // A permission given before the patient (re)joins is heard on joining.
  await console_.getByTestId('allow-share').click();
  await eventually(() => patient.getByTestId('share-screen').isVisible(), { message: 'the button again' });
  await patient.reload();
  await patient.getByTestId('device-continue').click({ timeout: 30_000 });
  await eventually(async () => (await text(patient, 'call-state')) === 'connected', { message: 'patient back in the call', timeout: 40_000 });
  await eventually(() => patient.getByTestId('share-screen').isVisible(), { message: 'the button after rejoining', timeout: 20_000 });

  await patientContext.close();
  await clinicianContext.close();
  assert.deepEqual(problems.flat(), []);
});
