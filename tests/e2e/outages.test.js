// What the console says when a part of the system is down. Here LiveKit:
// configured, but nothing answers at its address. The clinician admits a
// patient and reads, in plain words, that group video is unavailable,
// instead of a call that silently never starts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, launchChromium, apiFor, signInApi, watchPage } from './harness.js';

let server;
let browser;
const problems = [];

/** A port nothing listens on: connections to it are refused. */
async function closedPort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

before(async () => {
  server = await startServer({
    LIVEKIT_URL: `http://127.0.0.1:${await closedPort()}`,
    LIVEKIT_API_KEY: 'bedside-e2e-key',
    LIVEKIT_API_SECRET: 'bedside-e2e-secret-of-at-least-32-bytes',
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the console says group video is unavailable when LiveKit cannot be reached', async () => {
  const api = apiFor(server.base);
  const scheduler = await signInApi(server, 'scheduler');
  const queue = await api('/queues', { method: 'POST', token: scheduler.token, body: { name: 'LiveKit down' } });
  const [patientRecord] = await api('/patients?name=Lovelace', { token: scheduler.token });
  const visit = await api('/visits', { method: 'POST', token: scheduler.token, body: { patient_id: patientRecord.id, queue_id: queue.id, reason: 'Review' } });
  await api(`/visits/${visit.id}/check-in`, { method: 'POST', token: visit.patient_token, body: { consent_to_telehealth: true } });

  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await context.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();

  const notice = console_.getByTestId('group-video-unavailable');
  await notice.waitFor({ timeout: 20_000 });
  assert.match(await notice.textContent(), /Group video is unavailable right now/);
  await context.close();
});
