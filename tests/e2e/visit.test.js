// A whole visit in real Chromium: a scheduler books it, a patient on a
// phone-sized screen checks in, a clinician admits, both see each other's
// video, chat, survive a dropped socket, and the clinician closes; the
// scheduler board follows every step live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, eventually,
  remoteVideo, framesArrive, assertFits,
  assertAccessible,
} from './harness.js';

let server;
let browser;
const problems = [];

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(context, username, label) {
  const page = await context.newPage();
  problems.push(watchPage(page, label));
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(server.accounts[username].password);
  await page.getByTestId('sign-in').click();
  return page;
}

test('a patient and a clinician hold a visit from the join link to close, live on the board', async () => {
  const api = apiFor(server.base);
  const scheduler = await signInApi(server, 'scheduler');
  const queue = await api('/queues', { method: 'POST', token: scheduler.token, body: { name: 'General practice' } });
  const clinicianUser = (await api('/users?role=clinician', { token: scheduler.token })).find((u) => u.username === 'dr.grey');

  // The scheduler signs in and lands on the board.
  const schedulerContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const board = await signIn(schedulerContext, 'scheduler', 'scheduler');
  await board.waitForURL('**/scheduler');
  await board.getByTestId('queue-board').getByRole('heading', { name: /^General practice/ }).waitFor();
  await eventually(() => board.locator('#live').evaluate((el) => el.dataset.state === 'open'), { message: 'board socket' });

  // The clinician signs in and lands on the console.
  const clinicianContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await signIn(clinicianContext, 'dr.grey', 'clinician');
  await console_.waitForURL('**/clinician');
  await console_.getByTestId('queue').getByText('General practice').waitFor();
  await eventually(() => console_.locator('#live').evaluate((el) => el.dataset.state === 'open'), { message: 'console socket' });
  await console_.getByTestId('presence').selectOption('available');
  await eventually(async () => (await board.getByTestId(`presence-status-${clinicianUser.id}`).textContent()) === 'Available',
    { message: 'clinician available on the board' });
  await console_.screenshot({ path: artifactPath('clinician-console-empty.png'), fullPage: true });
  await assertAccessible(console_, 'clinician-console-empty');

  // The scheduler books a visit and copies the join link.
  await board.getByTestId('patient-search').fill('Lovelace');
  await eventually(async () => (await board.getByTestId('patient-select').locator('option').count()) > 0
    && (await board.getByTestId('patient-select').inputValue()) !== '', { message: 'patient search results' });
  await board.getByTestId('visit-queue').selectOption(queue.id);
  await board.getByTestId('visit-reason').fill('Sore throat and fever');
  await board.getByTestId('visit-priority').selectOption('urgent');
  await board.getByTestId('create-visit').click();
  const joinUrl = await eventually(async () => board.getByTestId('join-link').inputValue(), { message: 'join link' });
  assert.match(joinUrl, /\/join\/[^/?]+\?t=/);
  const visitId = new URL(joinUrl).pathname.split('/')[2];
  await board.getByTestId(`entry-${visitId}`).waitFor();
  assert.equal((await board.getByTestId(`status-${visitId}`).textContent()).trim(), 'Scheduled');
  await board.screenshot({ path: artifactPath('scheduler-board-booked.png'), fullPage: true });
  await assertAccessible(board, 'scheduler-board-booked');

  // The patient opens the link on a phone-sized screen.
  const patientContext = await browser.newContext({ viewport: { width: 375, height: 812 }, hasTouch: true, isMobile: true });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(joinUrl);
  await eventually(() => patient.evaluate(() => !location.search.includes('t=')), { message: 'the token to leave the URL' });
  assert.equal(new URL(patient.url()).search, '');

  // Device check: a live camera preview and a moving microphone level.
  await eventually(() => patient.locator('#preview').evaluate((v) => v.videoWidth > 0 && v.currentTime > 0), { message: 'camera preview' });
  await eventually(() => patient.getByTestId('mic-level').evaluate((m) => m.value > 0), { message: 'microphone level' });
  assert.equal(await patient.locator('#device-problem').isHidden(), true);
  // The network check against the server's own peer gives a plain verdict.
  const verdict = await eventually(async () => {
    const text = (await patient.getByTestId('precall-verdict').textContent()).trim();
    return ['Good', 'Fair'].includes(text) ? text : null;
  }, { message: 'a network verdict', timeout: 30_000 });
  assert.ok((await patient.getByTestId('precall-advice').textContent()).length > 10);
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-1-device-check-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-1-device-check-375');
  await patient.getByTestId('device-continue').click();

  // Consent is required.
  await patient.getByTestId('consent-continue').click();
  await patient.getByText('Please tick the box').waitFor();
  await patient.getByTestId('consent').check();
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-2-consent-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-2-consent-375');
  await patient.getByTestId('consent-continue').click();

  // Intake: symptoms and optional vitals.
  await patient.getByLabel('Fever').check();
  await patient.getByLabel('Sore throat').check();
  await patient.getByTestId('symptoms').fill('Hoarse voice');
  await patient.getByText('Add measurements').click();
  await patient.getByTestId('vital-heart-rate').fill('96');
  // A US clinic asks the temperature in °F.
  await patient.getByTestId('vital-temperature').fill('101.1');
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-3-intake-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-3-intake-375');
  await patient.getByTestId('check-in').click();

  // Waiting room with its place, live.
  await eventually(async () => (await patient.getByTestId('waiting-position').textContent()) === '1', { message: 'waiting position 1' });
  assert.equal(await patient.getByTestId('call-state').textContent(), 'waiting');
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-4-waiting-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-4-waiting-375');

  // The board and the console see the patient waiting, live.
  await eventually(async () => (await board.getByTestId(`status-${visitId}`).textContent()).trim() === 'Waiting', { message: 'board shows waiting' });
  const admit = console_.getByTestId(`admit-${visitId}`);
  await admit.waitFor();
  // The clinician sees the patient's network before admitting.
  assert.equal((await console_.getByTestId(`network-${visitId}`).textContent()).trim(), `network: ${verdict.toLowerCase()}`);
  await console_.screenshot({ path: artifactPath('clinician-console-queue.png'), fullPage: true });
  await assertAccessible(console_, 'clinician-console-queue');

  // The clinician admits; the patient hears of it and both connect.
  await admit.click();
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'connected', { message: 'patient connected', timeout: 30_000 });
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'connected', { message: 'clinician connected', timeout: 30_000 });
  const atPatient = await framesArrive(patient);
  const atClinician = await framesArrive(console_);
  assert.ok(atPatient.width > 0 && atClinician.width > 0);

  // The chart sits beside the call, with the check-in vitals.
  await console_.getByTestId('chart-vitals').getByText('38.4').waitFor();
  await console_.getByTestId('chart-symptoms').getByText('Hoarse voice').waitFor();

  // The board shows the consult and the clinician's presence and load, live.
  await eventually(async () => (await board.getByTestId(`status-${visitId}`).textContent()).trim() === 'In consult', { message: 'board shows in consult' });
  await eventually(async () => (await board.getByTestId(`presence-status-${clinicianUser.id}`).textContent()) === 'In consult', { message: 'presence in consult' });
  await eventually(async () => (await board.getByTestId(`load-${clinicianUser.id}`).textContent()).startsWith('1 in consult'), { message: 'load 1' });

  // Chat both ways.
  await patient.getByTestId('chat-input').fill('Hello doctor, I can see you.');
  await patient.getByTestId('chat-send').click();
  await console_.getByTestId('chat-log').getByText('Hello doctor, I can see you.').waitFor();
  await console_.getByTestId('chat-input').fill('Hello Ada, I can see you too.');
  await console_.getByTestId('chat-send').click();
  await patient.getByTestId('chat-log').getByText('Hello Ada, I can see you too.').waitFor();
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-5-call-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-5-call-375');
  await console_.screenshot({ path: artifactPath('clinician-console-call.png'), fullPage: true });
  await assertAccessible(console_, 'clinician-console-call');
  await board.screenshot({ path: artifactPath('scheduler-board-in-consult.png'), fullPage: true });
  await assertAccessible(board, 'scheduler-board-in-consult');

  // Every socket drops at once, as on a network blip: the call stays up and the sockets resume.
  const patientId = await patient.evaluate(() => window.__bedside.signal.participantId);
  const clinicianId = await console_.evaluate(() => window.__bedside.signal.participantId);
  const before = await remoteVideo(patient);
  const dropped = server.proxy.dropWebSockets();
  assert.ok(dropped >= 3, `dropped ${dropped} sockets`);
  await eventually(async () => (await patient.evaluate(() => window.__bedside.signal.state)) !== 'open', { message: 'patient socket to notice the drop', timeout: 5_000, interval: 20 });
  const states = [];
  const until = Date.now() + 3_000;
  while (Date.now() < until) {
    states.push(await patient.getByTestId('call-state').textContent(), await console_.getByTestId('call-state').textContent());
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.deepEqual([...new Set(states)], ['connected'], 'the call stays connected while the sockets are down');
  await eventually(async () => (await patient.evaluate(() => window.__bedside.signal.state)) === 'open', { message: 'patient socket resumed' });
  await eventually(async () => (await console_.evaluate(() => window.__bedside.signal.state)) === 'open', { message: 'clinician socket resumed' });
  assert.equal(await patient.evaluate(() => window.__bedside.signal.participantId), patientId, 'the patient keeps its participant id');
  assert.equal(await console_.evaluate(() => window.__bedside.signal.participantId), clinicianId, 'the clinician keeps its participant id');
  assert.ok((await remoteVideo(patient)).time > before.time, 'remote video kept playing');
  await patient.getByTestId('chat-input').fill('Still there after the blip?');
  await patient.getByTestId('chat-send').click();
  await console_.getByTestId('chat-log').getByText('Still there after the blip?').waitFor();
  await eventually(() => board.locator('#live').evaluate((el) => el.dataset.state === 'open'), { message: 'board socket resumed' });

  // The note is drafted on the server as it is typed: a reload of the
  // console mid-call loses nothing, and the console goes back to the
  // consult and its call by itself.
  await console_.getByTestId('note-assessment').fill('Viral pharyngitis, likely.');
  await console_.getByTestId('diagnosis').fill('J02.9');
  await eventually(async () => /Draft saved/.test(await console_.getByTestId('draft-status').textContent()), { message: 'draft saved' });
  await console_.reload();
  await eventually(async () => (await console_.getByTestId('note-assessment').inputValue()) === 'Viral pharyngitis, likely.', { message: 'draft restored after a reload' });
  assert.equal(await console_.getByTestId('diagnosis').inputValue(), 'J02.9');
  await console_.getByTestId('draft-status').getByText('Draft restored').waitFor();
  // The chat so far is part of the visit's record: it is back after the
  // reload, each message once, the clinician's own marked as theirs.
  const chatLog = console_.getByTestId('chat-log');
  for (const text of ['Hello doctor, I can see you.', 'Hello Ada, I can see you too.', 'Still there after the blip?']) {
    await chatLog.getByText(text).waitFor();
    assert.equal(await chatLog.getByText(text).count(), 1, `${text} shown once`);
  }
  assert.equal(await chatLog.locator('li.mine').getByText('Hello Ada, I can see you too.').count(), 1);
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'connected', { message: 'clinician back in the call after a reload', timeout: 30_000 });
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'connected', { message: 'patient connected again', timeout: 30_000 });
  await framesArrive(console_);

  // The patient reloads too: back through the device check into the call,
  // with the chat so far, each message once.
  await patient.reload();
  await eventually(() => patient.locator('#preview').evaluate((v) => v.videoWidth > 0), { message: 'camera preview after a reload' });
  await patient.getByTestId('device-continue').click();
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'connected', { message: 'patient back in the call after a reload', timeout: 30_000 });
  const patientLog = patient.getByTestId('chat-log');
  for (const text of ['Hello doctor, I can see you.', 'Hello Ada, I can see you too.', 'Still there after the blip?']) {
    await patientLog.getByText(text).waitFor();
    assert.equal(await patientLog.getByText(text).count(), 1, `${text} shown once to the patient`);
  }
  assert.equal(await patientLog.locator('li.mine').getByText('Hello doctor, I can see you.').count(), 1);
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'connected', { message: 'clinician connected to the reloaded patient', timeout: 30_000 });

  // Ending the call is not closing the visit: the note stays, and the
  // clinician can call the patient again.
  await console_.getByTestId('hang-up').click();
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'ended', { message: 'clinician hung up' });
  assert.equal(await console_.getByTestId('note-assessment').inputValue(), 'Viral pharyngitis, likely.');
  assert.equal((await api(`/visits/${visitId}`, { token: scheduler.token })).status, 'in_consult', 'the visit stays open');
  await console_.getByTestId('call-again').click();
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'connected', { message: 'called again', timeout: 30_000 });
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'connected', { message: 'patient back in the call', timeout: 30_000 });
  await eventually(async () => /in the call/.test(await console_.getByTestId('patient-presence').textContent()), { message: 'console says the patient is in the call' });

  // The clinician writes the note and closes the visit.
  await console_.getByTestId('note-assessment').fill('Viral pharyngitis.');
  await console_.getByTestId('note-plan').fill('Fluids, rest, paracetamol. Return if worse.');
  // The diagnosis field searches ICD-10-CM by words for the code being typed.
  await console_.getByTestId('diagnosis').fill('J02.9, ');
  await console_.getByTestId('diagnosis').pressSequentially('streptococcal pharyng');
  await eventually(async () => (await console_.locator('#n-diagnoses-options option[value="J02.9, J02.0"]').count()) === 1,
    { message: 'J02.0 offered for "streptococcal pharyng"' });
  await console_.getByTestId('diagnosis').fill('J02.9');
  // Too short to bill: the clinician is told why before the claim is made,
  // and corrects the minutes.
  await console_.getByTestId('minutes').fill('3');
  await console_.getByTestId('close-visit').click();
  await console_.getByTestId('billing-warning').getByText(/shortest billable time/).waitFor();
  assert.equal(await console_.evaluate(() => document.activeElement?.id), 'n-minutes');
  await console_.getByTestId('minutes').fill('15');
  await console_.getByTestId('close-visit').click();
  await console_.getByText('Visit closed').waitFor();
  assert.equal(await console_.locator('#chart').textContent(), '', 'no chart left on screen after close');

  // The patient sees a clear end and the after-visit summary at once, and
  // keeps the token while it is available; the board drops the visit and
  // frees the clinician.
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'ended', { message: 'patient call ended' });
  await patient.getByText('Your visit has ended').waitFor();
  await patient.getByTestId('visit-summary').waitFor();
  assert.match(await patient.getByTestId('visit-summary').textContent(), /Acute pharyngitis, unspecified \(J02\.9\)/);
  assert.match(await patient.getByTestId('visit-summary').textContent(), /Return if worse\./);
  assert.ok(await patient.evaluate(() => Object.keys(sessionStorage).length > 0), 'the patient token is kept for the summary');
  await assertFits(patient);
  await patient.screenshot({ path: artifactPath('patient-6-ended-375.png'), fullPage: true });
  await assertAccessible(patient, 'patient-6-ended-375');
  await eventually(async () => (await board.getByTestId(`entry-${visitId}`).count()) === 0, { message: 'board drops the closed visit' });
  await eventually(async () => (await board.getByTestId(`presence-status-${clinicianUser.id}`).textContent()) === 'Available', { message: 'clinician available again' });
  await board.screenshot({ path: artifactPath('scheduler-board-after-close.png'), fullPage: true });
  await assertAccessible(board, 'scheduler-board-after-close');
  const visit = await api(`/visits/${visitId}`, { token: scheduler.token });
  assert.equal(visit.status, 'closed');

  // Sign-out leaves nothing behind, and the console needs a new sign-in.
  await console_.getByTestId('sign-out').click();
  await console_.waitForURL(`${server.base}/`);
  assert.equal(await console_.evaluate(() => sessionStorage.length), 0);
  await console_.goto(`${server.base}/clinician`);
  await console_.waitForURL(`${server.base}/`);

  assert.deepEqual(problems.flat().filter((p) => !/favicon/.test(p)), []);
  await Promise.all([schedulerContext.close(), clinicianContext.close(), patientContext.close()]);
});
