// The front desk in a browser: a scheduler registers a patient and books
// them from the day view's free slots; a patient books themselves from the
// public page and gets a link; the scheduler sees that visit in the day
// view, shows its link again, and the link opens the patient's visit.
// axe-core on the new pages, and both at 375 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, watchPage, assertAccessible, assertFits, artifactPath, apiFor, signInApi, eventually,
} from './harness.js';

let server;
let browser;

before(async () => {
  // A person still fills the form; the wait before sending is shortened.
  server = await startServer({ BEDSIDE_BOOKING_MIN_FILL_SECONDS: '1' });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The clinic's date of a slot, as a date input takes it: pages show the clinic's days. */
function clinicDay(slot) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: slot.time_zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(slot.start));
}

test('register, book from the day view, self-book, see it in the day view and open its link', async () => {
  const api = apiFor(server.base);
  const { token } = await signInApi(server, 'scheduler');
  const clinicians = await api('/users?role=clinician', { token });
  const grey = clinicians.find((c) => c.username === 'dr.grey');
  // A day with free slots for Dr. Grey in the coming week.
  const from = new Date();
  const to = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  const free = (await api(`/slots?clinician_id=${grey.id}&from=${from.toISOString()}&to=${to.toISOString()}`, { token }))
    .filter((s) => s.status === 'free');
  assert.ok(free.length >= 3, 'the demo clinician has free slots this week');
  const day = clinicDay(free[free.length - 1]);

  const desk = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const problems = watchPage(desk, 'front desk');
  await desk.goto(`${server.base}/`);
  await desk.getByTestId('username').fill('scheduler');
  await desk.getByTestId('password').fill(server.accounts.scheduler.password);
  await desk.getByTestId('sign-in').click();
  await desk.waitForURL('**/scheduler');
  await desk.goto(`${server.base}/front-desk`);
  await desk.locator('body[data-ready="true"]').waitFor();
  await assertAccessible(desk, 'front desk');

  // Register a patient.
  await desk.getByTestId('reg-given').fill('Rosalind');
  await desk.getByTestId('reg-family').fill('Franklin');
  await desk.getByTestId('reg-birth').fill('1980-07-25');
  await desk.getByTestId('reg-email').fill('rosalind@example.org');
  await desk.getByTestId('register-patient').click();
  await desk.getByTestId('patient-results').getByText('Rosalind Franklin').waitFor();

  // Book her from the day view's free slots.
  await desk.getByTestId('calendar-clinician').selectOption(grey.id);
  await desk.getByTestId('day-date').fill(day);
  await desk.getByTestId('free-slot').first().waitFor();
  await desk.getByTestId('free-slot').first().click();
  await desk.getByTestId('book-reason').fill('Persistent cough');
  await desk.getByTestId('book-slot').click();
  await desk.getByTestId('calendar-list').getByText('Rosalind Franklin · Persistent cough').waitFor();
  assert.match(await desk.getByTestId('fd-join-link').inputValue(), /\/join\/[0-9a-f-]+\?t=/);

  // A patient books themselves from the public page, on a phone.
  const phone = await (await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })).newPage();
  const phoneProblems = watchPage(phone, 'booking page');
  await phone.goto(`${server.base}/book/${grey.id}`);
  await phone.locator('body[data-ready="true"]').waitFor();
  await phone.getByTestId('book-date').fill(day);
  await phone.getByTestId('book-slot').first().waitFor();
  await assertFits(phone);
  await assertAccessible(phone, 'booking page at 375 px');
  await phone.screenshot({ path: artifactPath('book-375.png'), fullPage: true });
  await phone.getByTestId('book-slot').first().click();
  await phone.getByTestId('book-given').fill('Marie');
  await phone.getByTestId('book-family').fill('Curie');
  await phone.getByTestId('book-birth').fill('1967-11-07');
  await phone.getByTestId('book-phone').fill('+1 217 555 0142');
  await phone.getByTestId('book-reason').fill('Sprained ankle');
  await phone.getByTestId('book-submit').click();
  await phone.getByTestId('book-result').waitFor();
  const link = await phone.getByTestId('book-join-link').getAttribute('href');
  assert.match(link, /\/join\/[0-9a-f-]+\?t=/);

  // The front desk sees her visit on that day, with its reason and status.
  await desk.getByTestId('calendar-view').selectOption('week');
  await desk.getByTestId('calendar-view').selectOption('day');
  const card = desk.getByTestId('calendar-list').locator('li', { hasText: 'Marie Curie · Sprained ankle' });
  await card.waitFor();
  assert.match(await card.textContent(), /Scheduled/);
  // She is new: listed for review.
  await desk.reload();
  await desk.locator('body[data-ready="true"]').waitFor();
  await desk.getByTestId('review-list').getByText('Marie Curie').waitFor();

  // Copy the link again, and use it: it opens her visit.
  await desk.getByTestId('calendar-clinician').selectOption(grey.id);
  await desk.getByTestId('day-date').fill(day);
  const again = desk.getByTestId('calendar-list').locator('li', { hasText: 'Marie Curie · Sprained ankle' });
  await again.getByRole('button', { name: 'Join link' }).click();
  const shown = await eventually(async () => {
    const value = await desk.getByTestId('fd-join-link').inputValue();
    return /\/join\/[0-9a-f-]+\?t=/.test(value) ? value : null;
  }, { message: 'the join link shown again' });
  const visitId = shown.match(/\/join\/([0-9a-f-]+)\?/)[1];
  assert.equal(link.match(/\/join\/([0-9a-f-]+)\?/)[1], visitId);
  await desk.screenshot({ path: artifactPath('front-desk-1280.png'), fullPage: true });
  await assertAccessible(desk, 'front desk with a booked day');

  const patient = await (await browser.newContext({ viewport: { width: 375, height: 812 } })).newPage();
  const visitRead = patient.waitForResponse((r) => r.url().endsWith(`/api/v1/visits/${visitId}`) && r.status() === 200);
  await patient.goto(shown);
  await visitRead;
  await patient.waitForURL(`**/join/${visitId}*`);

  // The front desk at 375 px.
  const small = await (await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true })).newPage();
  await small.goto(`${server.base}/`);
  await small.getByTestId('username').fill('scheduler');
  await small.getByTestId('password').fill(server.accounts.scheduler.password);
  await small.getByTestId('sign-in').click();
  await small.waitForURL('**/scheduler');
  await small.goto(`${server.base}/front-desk`);
  await small.locator('body[data-ready="true"]').waitFor();
  await assertFits(small);
  await assertAccessible(small, 'front desk at 375 px');
  await small.screenshot({ path: artifactPath('front-desk-375.png'), fullPage: true });

  assert.deepEqual([...problems, ...phoneProblems], []);
});
