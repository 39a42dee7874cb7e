// The clearinghouse in real Chromium: a scheduler checks a booked visit's
// insurance from its card on the board and reads the answer (copay,
// deductible left, coinsurance); a biller sees it on the claim's page,
// uploads the payer's 999 for the batch and asks the payer where the claim
// stands, the 277 moving it. The clearinghouse is a local stand-in that
// checks the bearer token and answers with the recorded 271/277/999s the
// API tests use. At 375 px, and the pages pass axe-core.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ROOT, startServer, launchChromium, apiFor, signInApi, watchPage, eventually,
  assertAccessible, assertFits, waitingVisit,
} from './harness.js';

const TOKEN = 'e2e-clearinghouse-token';
const fixture = (name) => readFileSync(path.join(ROOT, 'tests/api/billing/x12', name), 'utf8');
const element = (x12, id, qualifier, n) => x12.split('~').map((s) => s.trim().split('*'))
  .find((e) => e[0] === id && e[1] === qualifier)?.[n] ?? '';

let browser;
let server;
let standIn;
let next277 = '277-accepted.x12';
const taken = [];

before(async () => {
  standIn = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const ok = request.headers.authorization === `Bearer ${TOKEN}`
        && request.headers['content-type'] === 'application/edi-x12';
      if (!ok) { response.writeHead(401).end(); return; }
      const transaction = request.headers['x12-transaction'];
      taken.push(transaction);
      const answer = fixture(transaction === '270' ? '271-active.x12' : next277)
        .replaceAll('{TRACE}', element(body, 'TRN', '1', 2))
        .replaceAll('{CLAIM}', element(body, 'REF', 'EJ', 2))
        .replaceAll('{CHARGE}', element(body, 'AMT', 'T3', 2))
        .replaceAll('{SERVICE_DATE}', element(body, 'DTP', '472', 3));
      response.writeHead(200, { 'content-type': 'application/edi-x12' }).end(answer);
    });
  });
  await new Promise((resolve) => standIn.listen(0, '127.0.0.1', resolve));
  browser = await launchChromium();
  server = await startServer({
    BEDSIDE_BILLING_POLL_SECONDS: '1',
    BEDSIDE_CLEARINGHOUSE_URL: `http://127.0.0.1:${standIn.address().port}/x12`,
    BEDSIDE_CLEARINGHOUSE_TOKEN: TOKEN,
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  standIn?.close();
});

async function signIn(page, username) {
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(server.accounts[username].password);
  await page.getByTestId('sign-in').click();
}

const ACTIVE = 'Insurance active (GOLD PPO 500) · copay $25.00 · deductible $500.00, $320.50 left · coinsurance 20%.';

test('a scheduler checks a booked visit\'s insurance from its card and a biller asks where the claim stands (375 px)', async () => {
  const api = apiFor(server.base);
  const { visit } = await waitingVisit(server, 'Insurance checks', { reason: 'Cough', checkIn: false });

  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const problems = watchPage(page, 'scheduler');
  await signIn(page, 'scheduler');
  await page.waitForURL('**/scheduler');
  const line = page.getByTestId(`eligibility-${visit.id}`);
  await eventually(async () => (await line.textContent()) === 'Insurance not checked yet.', { message: 'the card says not checked' });
  await page.getByTestId(`eligibility-check-${visit.id}`).focus();
  await page.keyboard.press('Enter');
  await eventually(async () => (await page.getByTestId(`eligibility-${visit.id}`).textContent()) === ACTIVE,
    { message: 'the card shows the 271\'s answer' });
  assert.deepEqual(taken, ['270']);
  await assertAccessible(page, 'board with an eligibility answer');
  await assertFits(page);
  assert.deepEqual(problems, []);
  await context.close();

  // The consult happens and its claim goes out in a batch.
  const { token: clinician } = await signInApi(server, 'dr.grey');
  await api(`/visits/${visit.id}/check-in`, { method: 'POST', token: visit.patient_token, body: { consent_to_telehealth: true } });
  await api(`/visits/${visit.id}/admit`, { method: 'POST', token: clinician, body: {} });
  await api(`/visits/${visit.id}/close`, {
    method: 'POST',
    token: clinician,
    body: {
      diagnoses: ['J06.9'],
      note: { subjective: 'Cough', objective: 'Clear chest', assessment: 'Viral cough', plan: 'Fluids' },
      total_minutes: 25,
      patient_location: 'home',
    },
  });
  const { token: biller } = await signInApi(server, 'billing');
  const claim = await eventually(async () => {
    const [found] = await api(`/claims?encounter_id=${visit.encounter_id}`, { token: biller });
    return found?.status === 'ready' ? found : null;
  }, { message: 'the ready claim' });
  const exported = await fetch(`${server.base}/api/v1/claims/batch`, {
    method: 'POST', headers: { authorization: `Bearer ${biller}`, 'content-type': 'application/json' }, body: '{}',
  });
  assert.equal(exported.status, 200);
  const batch = await exported.text();
  const group = batch.split('~').map((s) => s.trim().split('*')).find((e) => e[0] === 'GS')[6];

  const billing = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page2 = await billing.newPage();
  const problems2 = watchPage(page2, 'biller');
  await signIn(page2, 'billing');
  await page2.waitForURL('**/billing');

  // The payer's 999 for the batch: the claim accepted.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-999-'));
  const file = path.join(dir, 'batch.999');
  writeFileSync(file, fixture('999-accepted.x12').replaceAll('{GROUP}', group));
  await page2.getByTestId('ack-file').setInputFiles(file);
  await page2.getByTestId('ack-upload').click();
  await page2.getByTestId('ack-claims').getByText(`${claim.number}: accepted`).waitFor();

  // The claim's page: the visit's eligibility, then the payer's status.
  await page2.getByTestId('count-accepted').click();
  await page2.getByTestId(`open-claim-${claim.number}`).click();
  await eventually(async () => (await page2.getByTestId('claim-eligibility').textContent()) === ACTIVE,
    { message: 'the claim shows the eligibility answer' });
  next277 = '277-paid.x12';
  await page2.getByTestId('claim-inquiry').click();
  await eventually(async () => (await page2.getByTestId('claim-status').textContent()) === 'Paid', { message: 'the 277 pays the claim' });
  assert.match(await page2.getByTestId('claim-history').textContent(), /Accepted → Paid by Bea Billing \(277 F1:65: finalized with payment/);
  assert.equal(await page2.getByTestId('claim-payer-number').textContent(), 'PAYERICN0001');
  assert.deepEqual(taken, ['270', '276']);
  await assertAccessible(page2, 'claim page after a status inquiry');
  await assertFits(page2);
  assert.deepEqual(problems2, []);
  await billing.close();
});
