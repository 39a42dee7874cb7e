// SMART on FHIR in real Chromium with the official SMART client library
// (`fhirclient` from npm): an admin registers a small app served by this
// test; a clinician opens it from the chart ("Apps", an EHR launch); the
// app runs FHIR.oauth2.authorize (discovery, PKCE S256, code exchange)
// and then ready(), and reads the Patient and Observations in context. The
// same app without Observation scope is refused with a 403.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, eventually, assertAccessible, assertFits,
  waitingVisit,
} from './harness.js';

const require = createRequire(import.meta.url);
const FHIR_CLIENT = readFileSync(require.resolve('fhirclient/build/fhir-client.js'));

let server;
let browser;
let appServer;
let appBase;

/** The app's pages: the launch page asks for `scope`, the redirect page reads in context. */
function appPages(scope) {
  return {
    '/launch.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title>
      <script src="/fhir-client.js"></script></head><body><main><h1>Launching</h1></main>
      <script>FHIR.oauth2.authorize({ clientId: window.CLIENT_ID, scope: ${JSON.stringify(scope)}, redirectUri: '/index.html' })
        .catch((e) => { document.body.dataset.error = e.message; });</script></body></html>`,
    '/standalone.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title>
      <script src="/fhir-client.js"></script></head><body><main><h1>Connecting to your clinic</h1></main>
      <script>FHIR.oauth2.authorize({ iss: window.FHIR_BASE, clientId: window.CLIENT_ID, scope: ${JSON.stringify(scope)}, redirectUri: '/index.html' })
        .catch((e) => { document.body.dataset.error = e.message; });</script></body></html>`,
    '/index.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title>
      <script src="/fhir-client.js"></script></head><body><main><h1 id="name">Loading</h1><p id="obs"></p></main>
      <script>
        FHIR.oauth2.ready().then(async (client) => {
          const patient = await client.patient.read();
          document.getElementById('name').textContent = patient.name[0].given[0] + ' ' + patient.name[0].family;
          document.body.dataset.patient = patient.id;
          document.body.dataset.contextPatient = client.patient.id;
          document.body.dataset.encounter = client.encounter.id || '';
          document.body.dataset.scope = client.state.tokenResponse.scope;
          try {
            const bundle = await client.patient.request('Observation');
            document.body.dataset.observations = String((bundle.entry || []).length);
          } catch (e) {
            document.body.dataset.observations = 'refused ' + (e.status || e.statusCode || e.message);
          }
          document.body.dataset.done = 'yes';
        }).catch((e) => { document.body.dataset.error = e.message; });
      </script></body></html>`,
  };
}

let pages = {};
let clientId = '';

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  appServer = http.createServer((request, response) => {
    const path = new URL(request.url, 'http://x').pathname;
    if (path === '/fhir-client.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(FHIR_CLIENT);
      return;
    }
    const page = pages[path];
    if (!page) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(page
      .replace('window.CLIENT_ID', JSON.stringify(clientId))
      .replace('window.FHIR_BASE', JSON.stringify(`${server.base}/fhir`)));
  });
  await new Promise((resolve) => appServer.listen(0, '127.0.0.1', resolve));
  appBase = `http://127.0.0.1:${appServer.address().port}`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => appServer?.close(resolve) ?? resolve());
});

/** A consult open in `clinician`'s console for a checked-in demo patient (one consult each). */
async function openConsult(context, surname, clinician) {
  const { visit, patient } = await waitingVisit(server, `Apps ${surname}`, {
    family: surname,
    checkInBody: { vitals: { heart_rate: 90, respiratory_rate: 18, spo2: 96, systolic_bp: 118, temperature_c: 37.4, consciousness: 'alert' } },
  });
  const console_ = await context.newPage();
  const seen = watchPage(console_, 'clinician');
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill(clinician);
  await console_.getByTestId('password').fill(server.accounts[clinician].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();
  await console_.getByTestId('chart-apps').waitFor({ timeout: 20_000 });
  return { console_, visit, patient, seen };
}

async function register(name, scopes) {
  const api = apiFor(server.base);
  const admin = await signInApi(server, 'admin');
  const app = await api('/smart/apps', {
    method: 'POST', token: admin.token,
    body: { name, launch_url: `${appBase}/launch.html`, redirect_uris: [`${appBase}/index.html`], client_type: 'public', scopes },
  });
  return app.client_id;
}

/** Clicks "Open <app>" beside the chart and waits for the app to finish. */
async function launchFromChart(console_, id) {
  const [popup] = await Promise.all([
    console_.waitForEvent('popup'),
    console_.getByTestId(`app-launch-${id}`).click(),
  ]);
  const problems = watchPage(popup, 'app');
  await eventually(() => popup.evaluate(() => document.body?.dataset.done || document.body?.dataset.error), {
    message: 'the app to read the record in context', timeout: 30_000,
  });
  return { popup, problems };
}

test('fhirclient completes an EHR launch from the console and reads the patient in context', async () => {
  clientId = await register('Growth charts', 'launch openid fhirUser patient/Patient.rs patient/Observation.rs');
  pages = appPages('launch openid fhirUser patient/Patient.rs patient/Observation.rs');
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const { console_, visit, patient, seen } = await openConsult(context, 'Lovelace', 'dr.grey');
  await console_.screenshot({ path: artifactPath('smart-1-apps-beside-chart.png'), fullPage: true });
  await assertAccessible(console_, 'smart-1-apps-beside-chart');

  const { popup, problems } = await launchFromChart(console_, clientId);
  const data = await popup.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(data.error, undefined, data.error);
  assert.equal(data.patient, patient.id);
  assert.equal(data.contextPatient, patient.id);
  assert.equal(data.encounter, visit.encounter_id);
  assert.equal(data.scope, 'launch openid fhirUser patient/Patient.rs patient/Observation.rs');
  assert.ok(Number(data.observations) > 0, `observations: ${data.observations}`);
  assert.equal(await popup.locator('#name').textContent(), `${patient.given_name} ${patient.family_name}`);
  assert.ok(popup.url().startsWith(`${appBase}/index.html`));
  await popup.screenshot({ path: artifactPath('smart-2-app-in-context.png') });

  // The launch and the app's reads are in the patient's audit trail.
  const admin = await signInApi(server, 'admin');
  const trail = await apiFor(server.base)(`/audit?patient_id=${patient.id}`, { token: admin.token });
  for (const action of ['smart.launch', 'smart.grant', 'smart.token']) {
    assert.ok(trail.some((e) => e.action === action), action);
  }
  assert.ok(trail.some((e) => e.action === 'fhir.read' && e.actor_type === 'app' && e.actor_id === clientId));
  assert.deepEqual([...seen, ...problems], []);
  await context.close();
});

test('the same app without Observation scope reads the patient and is refused the observations', async () => {
  clientId = await register('Demographics only', 'launch patient/Patient.rs');
  pages = appPages('launch patient/Patient.rs patient/Observation.rs');
  const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const { console_, patient, seen } = await openConsult(context, 'Hopper', 'dr.house');
  const { popup } = await launchFromChart(console_, clientId);
  const data = await popup.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(data.error, undefined, data.error);
  assert.equal(data.patient, patient.id);
  assert.equal(data.scope, 'launch patient/Patient.rs');
  assert.match(data.observations, /^refused 403/);
  const admin = await signInApi(server, 'admin');
  const trail = await apiFor(server.base)(`/audit?patient_id=${patient.id}`, { token: admin.token });
  assert.ok(trail.some((e) => e.actor_type === 'app' && e.outcome === 'denied'), 'the refused search is audited');
  assert.deepEqual(seen, []);
  await context.close();
});

test('a patient starts the app on their own, signs in with their visit link and the app sees their record only', async () => {
  const scope = 'launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs';
  clientId = await register('My readings', scope);
  pages = appPages(scope);
  const api = apiFor(server.base);
  const { scheduler, patient, visit } = await waitingVisit(server, 'Apps standalone', {
    family: 'Turing',
    checkInBody: { vitals: { heart_rate: 72, respiratory_rate: 14, spo2: 98, systolic_bp: 121, temperature_c: 36.8, consciousness: 'alert' } },
  });

  const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${appBase}/standalone.html`);
  // fhirclient discovers the authorization server and sends the browser to Bedside's consent page.
  await page.waitForURL(`${server.base}/authorize?**`, { timeout: 20_000 });
  const seen = watchPage(page, 'authorize');
  await page.getByTestId('authorize-visit-link').waitFor();
  assert.equal(await page.getByTestId('authorize-app').textContent(), 'My readings');
  const asked = await page.getByTestId('authorize-scopes').textContent();
  assert.match(asked, /read Observation of the patient/);
  await assertFits(page);
  await assertAccessible(page, 'smart-3-consent');
  await page.screenshot({ path: artifactPath('smart-3-consent-375.png'), fullPage: true });

  // A pasted link that is not a visit link gets a plain answer, by keyboard alone.
  await page.getByTestId('authorize-visit-link').focus();
  await page.keyboard.type('https://example.org/not-a-visit');
  await page.keyboard.press('Enter');
  await eventually(async () => /not a visit link/.test(await page.getByTestId('authorize-message').textContent()), {
    message: 'the consent page to refuse a link that is not a visit link',
  });
  await page.getByTestId('authorize-visit-link').fill(visit.join_url);
  await page.keyboard.press('Enter');
  await page.getByTestId('authorize-allow').waitFor();
  assert.match(await page.getByTestId('authorize-who').textContent(), /visit link/);
  await assertAccessible(page, 'smart-4-decision');
  await page.getByTestId('authorize-allow').click();

  await page.waitForURL(`${appBase}/index.html**`, { timeout: 20_000 });
  await eventually(() => page.evaluate(() => document.body?.dataset.done || document.body?.dataset.error), {
    message: 'the app to read the patient\'s own record', timeout: 30_000,
  });
  const data = await page.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(data.error, undefined, data.error);
  assert.equal(data.patient, patient.id);
  assert.equal(data.contextPatient, patient.id);
  assert.equal(data.scope, scope);
  assert.ok(Number(data.observations) > 0, `observations: ${data.observations}`);

  // Another patient's record is refused to this token, and the refusal is audited.
  const [other] = await api('/patients?name=Lovelace', { token: scheduler.token });
  const status = await page.evaluate(async (id) => {
    const key = sessionStorage.getItem('SMART_KEY');
    const state = JSON.parse(sessionStorage.getItem(JSON.parse(key)));
    const response = await fetch(`${state.serverUrl}/Patient/${id}`, {
      headers: { authorization: `Bearer ${state.tokenResponse.access_token}`, accept: 'application/fhir+json' },
    });
    return response.status;
  }, other.id);
  assert.equal(status, 403);
  const admin = await signInApi(server, 'admin');
  const trail = await api(`/audit?patient_id=${other.id}`, { token: admin.token });
  assert.ok(trail.some((e) => e.actor_type === 'app' && e.actor_id === clientId && e.outcome === 'denied'), 'the refused read is audited');
  const own = await api(`/audit?patient_id=${patient.id}`, { token: admin.token });
  assert.ok(own.some((e) => e.action === 'smart.grant'), 'the grant is audited');
  assert.deepEqual(seen, []);
  await context.close();
});
