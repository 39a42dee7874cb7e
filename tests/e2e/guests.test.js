// A group call in real Chromium: the clinician invites an interpreter from
// the console, the interpreter opens the link, waits, and is let in; then
// patient, clinician and interpreter each receive the others' video over a
// peer-to-peer mesh.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, apiFor, artifactPath, watchPage, eventually, framesArrive,
  assertAccessible, waitingVisit,
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

/** Frames play in every tile of the others (guests, or the patient for a guest). */
async function othersPlay(page, count, label) {
  await eventually(() => page.locator('[data-testid^=other-video-]').evaluateAll((videos, wanted) => videos.length === wanted
    && videos.every((v) => v.videoWidth > 0 && v.currentTime > 0), count), { message: `${label}: ${count} other video(s) playing`, timeout: 30_000 });
}

test('a clinician invites an interpreter who joins patient and clinician once let in', async () => {
  const { visit } = await waitingVisit(server, 'Interpreted visits', { reason: 'Follow-up' });

  // The patient returns to the visit's page and waits.
  const patientContext = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const patient = await patientContext.newPage();
  problems.push(watchPage(patient, 'patient'));
  await patient.goto(visit.join_url);
  await patient.getByTestId('device-continue').click();
  await eventually(async () => (await patient.getByTestId('call-state').textContent()) === 'waiting', { message: 'patient waiting' });

  // The clinician admits the patient; the two connect.
  const clinicianContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await clinicianContext.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();
  await eventually(async () => (await console_.getByTestId('call-state').textContent()) === 'connected', { message: 'clinician connected', timeout: 30_000 });
  await framesArrive(patient);

  // The clinician invites an interpreter and copies the link.
  await console_.getByTestId('guest-name').fill('Maria (interpreter)');
  await console_.getByTestId('guest-kind').selectOption('interpreter');
  await console_.getByTestId('guest-invite').click();
  const linkInput = console_.locator('[data-testid^=guest-link-]');
  const link = await eventually(async () => linkInput.inputValue(), { message: 'the guest link' });
  assert.match(link, new RegExp(`/guest/${visit.id}\\?t=`));
  const guestId = (await linkInput.getAttribute('data-testid')).slice('guest-link-'.length);

  // The interpreter opens it, checks the camera, and waits to be let in.
  const guestContext = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const guest = await guestContext.newPage();
  problems.push(watchPage(guest, 'guest'));
  await guest.goto(link);
  await eventually(async () => (await guest.getByTestId('guest-self').textContent()).trim() === 'Maria (interpreter)', { message: 'the guest greeted by name' });
  await eventually(() => guest.evaluate(() => !location.search.includes('t=')), { message: 'the token to leave the URL' });
  await guest.getByTestId('device-continue').click();
  await eventually(async () => (await guest.getByTestId('call-state').textContent()) === 'waiting', { message: 'guest waiting' });
  await guest.screenshot({ path: artifactPath('guest-1-waiting-375.png'), fullPage: true });
  await assertAccessible(guest, 'guest-1-waiting-375');
  // The console shows the interpreter waiting to be let in.
  await console_.getByTestId(`guest-waiting-${guestId}`).waitFor({ timeout: 15_000 });

  // Let in: a mesh of three, each seeing the other two.
  await console_.getByTestId(`guest-admit-${guestId}`).click();
  await eventually(async () => (await guest.getByTestId('call-state').textContent()) === 'connected', { message: 'guest connected', timeout: 30_000 }).catch(async (e) => {
    for (const [label, p] of [['guest', guest], ['patient', patient], ['clinician', console_]]) {
      console.error('links at', label, JSON.stringify(await p.evaluate(() => [...(window.__bedside?.call?.links?.values() ?? [])].map((l) => ({
        role: l.info.role, id: l.id, state: l.state, ice: l.pc.iceConnectionState, sig: l.pc.signalingState, tracks: l.stream.getTracks().length,
      }))).catch((x) => x.message)));
    }
    throw e;
  });
  await framesArrive(guest);
  await othersPlay(guest, 1, 'guest sees the patient');
  await othersPlay(console_, 1, 'clinician sees the guest');
  await othersPlay(patient, 1, 'patient sees the guest');
  assert.match(await console_.getByTestId(`guest-${guestId}`).textContent(), /in the call/);
  await guest.screenshot({ path: artifactPath('guest-2-call-375.png'), fullPage: true });
  await assertAccessible(guest, 'guest-2-call-375');
  await console_.screenshot({ path: artifactPath('clinician-group-call.png'), fullPage: true });
  await assertAccessible(console_, 'clinician-group-call');

  // The interpreter leaves: the others' tiles go, their own call stays.
  await guest.getByTestId('leave').click();
  await othersPlay(console_, 0, 'clinician after the guest left');
  await othersPlay(patient, 0, 'patient after the guest left');
  assert.equal(await patient.getByTestId('call-state').textContent(), 'connected');
  assert.deepEqual(problems.flat().filter((p) => !/favicon/.test(p)), []);
  await Promise.all([patientContext.close(), clinicianContext.close(), guestContext.close()]);
});

test('a scheduler invites a guest from the board and gets its link', async () => {
  const api = apiFor(server.base);
  const { scheduler, visit } = await waitingVisit(server, 'Family visits', { family: 'Hopper', reason: 'Results', checkIn: false });

  const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const board = await context.newPage();
  const seen = watchPage(board, 'scheduler');
  await board.goto(`${server.base}/`);
  await board.getByTestId('username').fill('scheduler');
  await board.getByTestId('password').fill(server.accounts.scheduler.password);
  await board.getByTestId('sign-in').click();
  await board.waitForURL('**/scheduler');
  await board.getByTestId(`guest-${visit.id}`).click();
  await board.getByTestId('board-guest-invite').click();
  await board.getByText('must be 1 to 100 characters').waitFor();
  await board.getByTestId('board-guest-name').fill('Sam (son)');
  await board.getByTestId('board-guest-kind').selectOption('family');
  await board.getByTestId('board-guest-invite').click();
  const link = await eventually(async () => board.getByTestId('board-guest-link').inputValue(), { message: 'the guest link' });
  assert.match(link, new RegExp(`/guest/${visit.id}\\?t=`));
  await board.screenshot({ path: artifactPath('scheduler-guest-invite-375.png'), fullPage: true });
  await assertAccessible(board, 'scheduler-guest-invite-375');
  const guests = await api(`/visits/${visit.id}/guests`, { token: scheduler.token });
  assert.deepEqual(guests.map((g) => [g.display_name, g.kind, g.status]), [['Sam (son)', 'family', 'invited']]);
  assert.deepEqual(seen, []);
  await context.close();
});
