// The after-visit summary in real Chromium: once the clinician closes the
// visit, the patient's link shows the summary in plain words (and again
// after a reload), fits 375 px and passes axe-core there and on a desktop;
// after its days the page says so and how to reach the clinic.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage,
  assertAccessible, assertFits, waitingVisit,
} from './harness.js';

let browser;
let server;

before(async () => {
  browser = await launchChromium();
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Books, checks in, admits and closes a visit through the API. */
async function closedVisit(family, queueName) {
  const api = apiFor(server.base);
  const { visit } = await waitingVisit(server, queueName, { family, reason: 'Sore throat' });
  const { token: clinician } = await signInApi(server, 'dr.grey');
  await api(`/visits/${visit.id}/admit`, { method: 'POST', token: clinician, body: {} });
  await api(`/visits/${visit.id}/close`, {
    method: 'POST',
    token: clinician,
    body: {
      diagnoses: ['J06.9'],
      note: {
        subjective: 'Sore throat for 3 days',
        objective: 'Erythema',
        assessment: 'Viral upper respiratory infection',
        plan: 'Rest and drink plenty of fluids.\nFollow up in 1 week if not better.',
      },
      total_minutes: 15,
      patient_location: 'home',
    },
  });
  return visit;
}

for (const [label, viewport] of [['375 px', { width: 375, height: 740 }], ['desktop', { width: 1366, height: 900 }]]) {
  test(`a closed visit's link shows the after-visit summary (${label})`, async () => {
    const visit = await closedVisit('Lovelace', `Summary at ${label}`);
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const problems = watchPage(page, 'patient');
    await page.goto(visit.join_url);

    const summary = page.getByTestId('visit-summary');
    await summary.waitFor();
    const text = await summary.textContent();
    assert.match(text, /Acute upper respiratory infection, unspecified \(J06\.9\)/);
    assert.match(text, /Rest and drink plenty of fluids\./);
    assert.match(text, /Follow up in 1 week if not better\./);
    const headings = await summary.locator('h2, h3:visible').allTextContents();
    assert.deepEqual(headings.slice(0, 4), ['Your visit summary', 'Diagnoses', 'Plan and instructions', 'Follow-up']);
    assert.ok(await page.getByTestId('summary-print').isVisible());
    await assertAccessible(page, `patient summary at ${label}`);
    if (viewport.width === 375) await assertFits(page);
    await page.screenshot({ path: artifactPath(`patient-summary-${viewport.width}.png`), fullPage: true });

    // A reload still shows it: the token is kept while the summary is available.
    await page.reload();
    await page.getByTestId('visit-summary').waitFor();
    assert.match(await page.getByTestId('visit-summary').textContent(), /J06\.9/);

    // Print calls the browser's print, and the print stylesheet hides the chrome.
    await page.evaluate(() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; });
    await page.getByTestId('summary-print').click();
    assert.equal(await page.evaluate(() => window.__printed), 1);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.topbar').isVisible(), false);
    assert.ok(await page.getByTestId('visit-summary').isVisible());
    await page.emulateMedia({ media: 'screen' });

    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('after its days the link says plainly the summary is no longer available and how to reach the clinic', async () => {
  const visit = await closedVisit('Lovelace', 'Summary past its days');
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const problems = watchPage(page, 'patient');
  // The server's answer once the days are over (the API tests move its clock there).
  await page.route('**/api/v1/visits/*/summary', (route) => route.fulfill({
    status: 410,
    contentType: 'application/problem+json',
    body: JSON.stringify({
      type: 'about:blank',
      title: 'Gone',
      status: 410,
      detail: "This visit's summary was available for 30 days after the visit and is no longer available. Please contact Bedside Demo Clinic on (217) 555-0100.",
    }),
  }));
  await page.goto(visit.join_url);
  await page.getByText('Your visit summary is no longer available').waitFor();
  assert.match(await page.locator('#end-text').textContent(), /Please contact Bedside Demo Clinic on \(217\) 555-0100/);
  assert.equal(await page.getByTestId('visit-summary').isVisible(), false);
  assert.equal(await page.evaluate(() => Object.keys(sessionStorage).length), 0, 'the token is forgotten');
  await assertAccessible(page, 'summary no longer available at 375 px');
  await assertFits(page);
  assert.deepEqual(problems, []);
  await context.close();
});
