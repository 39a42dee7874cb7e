// The patient's device check when the browser blocks the camera and
// microphone: clear guidance, and a way on without them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, assertFits } from './harness.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  // No fake UI: nobody accepts the permission prompt, so the request is refused.
  browser = await launchChromium({ fakeUi: false });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function bookVisit() {
  const api = apiFor(server.base);
  const { token } = await signInApi(server, 'scheduler');
  const queues = await api('/queues', { token });
  const queue = queues[0] ?? await api('/queues', { method: 'POST', token, body: { name: 'Walk-in' } });
  const [patient] = await api('/patients?name=Turing', { token });
  return api('/visits', { method: 'POST', token, body: { patient_id: patient.id, queue_id: queue.id, reason: 'Cough' } });
}

for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['375', { width: 375, height: 740 }]]) {
  test(`a patient whose camera and microphone are blocked is told how to allow them (${name})`, async () => {
    const visit = await bookVisit();
    const context = await browser.newContext({ viewport });
    await context.clearPermissions();
    const page = await context.newPage();
    const problems = watchPage(page, 'patient');
    await page.goto(visit.join_url);

    const problem = page.getByTestId('device-problem');
    await problem.waitFor({ timeout: 20_000 });
    assert.equal(await problem.textContent(), 'Camera and microphone are blocked');
    const steps = await page.locator('#problem-steps').textContent();
    assert.match(steps, /Allow/);
    assert.equal(await page.getByRole('alert').filter({ hasText: 'blocked' }).count(), 1, 'the problem is announced');
    await page.getByTestId('device-retry').waitFor();
    assert.equal(await page.getByTestId('device-continue').textContent(), 'Continue without camera and microphone');
    await assertFits(page, viewport.width);
    await page.screenshot({ path: artifactPath(`patient-blocked-${name}.png`), fullPage: true });

    // The patient can still go on, to check in and chat.
    await page.getByTestId('device-continue').click();
    await page.getByTestId('consent').check();
    await page.getByTestId('consent-continue').click();
    await page.getByTestId('check-in').click();
    await page.getByTestId('waiting-position').filter({ hasText: /^\d+$/ }).waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });
}
