// The front desk follows changes made elsewhere: a visit booked through the
// API appears in an open day view, and its cancellation shows, without a
// reload. The browser runs in Tokyo while the clinic (the demo's hours) is
// in Chicago: the day and the times shown are the clinic's, with its zone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, watchPage, assertAccessible, apiFor, signInApi,
} from './harness.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The date and the time of a slot on the clinic's clock, worked out here. */
function onClinicClock(slot) {
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: slot.time_zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(slot.start));
  const time = (zone) => new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(new Date(slot.start));
  return { day, time: time(slot.time_zone), tokyo: time('Asia/Tokyo') };
}

test('a visit booked and cancelled elsewhere shows in the open day view, at the clinic\'s time', async () => {
  const api = apiFor(server.base);
  const { token } = await signInApi(server, 'scheduler');
  const grey = (await api('/users?role=clinician', { token })).find((c) => c.username === 'dr.grey');
  const from = new Date();
  const to = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  const free = (await api(`/slots?clinician_id=${grey.id}&from=${from.toISOString()}&to=${to.toISOString()}`, { token }))
    .filter((s) => s.status === 'free');
  assert.ok(free.length > 0, 'the demo clinician has free slots this week');
  const slot = free[free.length - 1];
  assert.equal(slot.time_zone, 'America/Chicago');
  const clock = onClinicClock(slot);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Asia/Tokyo', locale: 'en-US' });
  const desk = await context.newPage();
  const problems = watchPage(desk, 'front desk');
  await desk.goto(`${server.base}/`);
  await desk.getByTestId('username').fill('scheduler');
  await desk.getByTestId('password').fill(server.accounts.scheduler.password);
  await desk.getByTestId('sign-in').click();
  await desk.waitForURL('**/scheduler');
  await desk.goto(`${server.base}/front-desk`);
  await desk.locator('body[data-ready="true"]').waitFor();
  await desk.locator('[data-testid="live"][data-state="open"]').waitFor();
  await desk.getByTestId('calendar-clinician').selectOption(grey.id);
  await desk.getByTestId('day-date').fill(clock.day);
  await desk.getByTestId('free-slot').first().waitFor();
  assert.match(await desk.getByTestId('calendar-zone').textContent(), /America\/Chicago/);
  // Marks this document: a reload would lose the mark.
  await desk.evaluate(() => { window.stillTheSamePage = true; });

  // Booked through the API, by someone else.
  const patient = await api('/patients', {
    method: 'POST', token,
    body: { given_name: 'Chien-Shiung', family_name: 'Wu', birth_date: '1972-05-31', sex: 'female', email: 'wu@example.org' },
  });
  const visit = await api('/appointments', {
    method: 'POST', token, body: { patient_id: patient.id, clinician_id: grey.id, start: slot.start, reason: 'Knee pain' },
  });
  const card = desk.getByTestId(`visit-card-${visit.id}`);
  await card.waitFor();
  assert.match(await card.textContent(), /Chien-Shiung Wu · Knee pain/);
  const shown = await desk.getByTestId(`visit-time-${visit.id}`).textContent();
  assert.ok(shown.includes(clock.time), `the clinic's time ${clock.time} in "${shown}"`);
  assert.ok(!shown.includes(clock.tokyo), `not the device's time ${clock.tokyo} in "${shown}"`);
  assert.equal(await desk.getByTestId(`visit-status-${visit.id}`).textContent(), 'Scheduled');

  // Cancelled through the API: the card stays, marked cancelled.
  await api(`/visits/${visit.id}/cancel`, { method: 'POST', token });
  await desk.locator(`[data-testid="visit-status-${visit.id}"]`, { hasText: 'Cancelled' }).waitFor();
  assert.equal(await desk.evaluate(() => window.stillTheSamePage), true, 'no reload');
  await assertAccessible(desk, 'front desk updated live');

  assert.deepEqual(problems, []);
});
