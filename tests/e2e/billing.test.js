// The billing console in real Chromium: a biller finds a claim that waits
// in review, fixes its diagnosis (searching ICD-10-CM by words) and its
// line, releases it, exports the batch and downloads it, uploads the
// payer's 835 and sees it posted, on a phone and on a desktop; the page
// passes axe-core; a scheduler is told the page is not theirs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, eventually,
  assertAccessible, assertFits, waitingVisit,
} from './harness.js';

let browser;
let server;

before(async () => {
  browser = await launchChromium();
  server = await startServer({ BEDSIDE_BILLING_POLL_SECONDS: '1' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A consult closed after 5 minutes: too short to code, so its claim waits for review. */
async function shortConsult(family, queueName) {
  const api = apiFor(server.base);
  const { visit } = await waitingVisit(server, queueName, { family, reason: 'Cough' });
  const { token: clinician } = await signInApi(server, 'dr.grey');
  await api(`/visits/${visit.id}/admit`, { method: 'POST', token: clinician, body: {} });
  await api(`/visits/${visit.id}/close`, {
    method: 'POST',
    token: clinician,
    body: {
      diagnoses: ['J06.9'],
      note: { subjective: 'Cough', objective: 'Clear chest', assessment: 'Viral cough', plan: 'Fluids' },
      total_minutes: 5,
      patient_location: 'home',
    },
  });
  const { token: biller } = await signInApi(server, 'billing');
  return eventually(async () => {
    const [claim] = await api(`/claims?encounter_id=${visit.encounter_id}`, { token: biller });
    return claim;
  }, { message: 'the claim of the closed consult' });
}

/** The payer's 835 paying $50.00 of a $60.00 claim, $10.00 written off. */
function remittance(trace, number) {
  const segments = [
    'ISA*00*          *00*          *ZZ*DEMOPAYER      *ZZ*BEDSIDEDEMO    *250310*1200*^*00501*000000007*0*T*:',
    'GS*HP*DEMOPAYER*BEDSIDEDEMO*20250310*1200*7*X*005010X221A1',
    'ST*835*0001',
    'BPR*I*50*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20250310',
    `TRN*1*${trace}*1512345678`,
    'N1*PR*DEMO HEALTH PLAN',
    'LX*1',
    `CLP*${number}*1*60*50**12*PAYERREF${trace}`,
    'CAS*CO*45*10',
  ];
  segments.push(`SE*${segments.length - 1}*0001`, 'GE*1*7', 'IEA*1*000000007');
  return segments.map((s) => `${s}~\n`).join('');
}

async function signIn(page, username) {
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(server.accounts[username].password);
  await page.getByTestId('sign-in').click();
}

for (const [label, viewport] of [['375 px', { width: 375, height: 740 }], ['desktop', { width: 1366, height: 900 }]]) {
  test(`a biller fixes and releases a claim, exports the batch and posts the 835 (${label})`, async () => {
    const claim = await shortConsult('Lovelace', `Billing at ${label}`);
    assert.equal(claim.status, 'needs_review');
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchPage(page, 'biller');
    await signIn(page, 'billing');
    await page.waitForURL('**/billing');

    // The work queue: the review count and the claim under its filter.
    await page.getByTestId('count-needs_review').click();
    const row = page.getByTestId(`claim-row-${claim.number}`);
    await row.waitFor();
    assert.match(await page.getByTestId('count-needs_review').textContent(), /Needs review: [1-9]/);
    await assertAccessible(page, `billing queue at ${label}`);
    if (viewport.width === 375) await assertFits(page);

    // The claim's page says why it waits; the biller fixes it.
    await page.getByTestId(`open-claim-${claim.number}`).click();
    const detail = page.getByTestId('claim-detail');
    await detail.waitFor();
    assert.match(await page.getByTestId('claim-review-reason').textContent(), /shortest billable time|minimum/);
    assert.match(await page.getByTestId('claim-diagnoses').textContent(), /J06\.9 — Acute upper respiratory infection/);
    assert.match(await page.getByTestId('claim-history').textContent(), /created as Needs review by the billing worker/);

    // The diagnosis field finds R05.9 by its words.
    const dx = page.getByTestId('release-diagnosis');
    await dx.fill('cough, unspecified');
    await eventually(async () => (await page.locator('#fix-dx-options option[value="R05.9"]').count()) === 1,
      { message: 'R05.9 offered for "cough, unspecified"' });
    await dx.fill('R05.9');
    await page.getByTestId('release-diagnosis-add').click();
    await page.getByTestId('fix-dx-R05.9').waitFor();
    await page.getByTestId('release-cpt').fill('99212');
    await page.getByTestId('release-modifiers').fill('95');
    await page.getByTestId('release-pointers').fill('1, 2');
    await assertAccessible(page, `claim page at ${label}`);
    if (viewport.width === 375) await assertFits(page);
    await page.getByTestId('release-submit').click();
    await eventually(async () => (await page.getByTestId('claim-status').textContent()) === 'Ready', { message: 'the claim ready' });
    assert.equal(await page.getByTestId('claim-total').textContent(), '$60.00');
    assert.match(await page.getByTestId('claim-diagnoses').textContent(), /R05\.9 — Cough, unspecified/);
    assert.match(await page.getByTestId('claim-history').textContent(), /Needs review → Ready by Bea Billing \(released\)/);

    // Export: the download is the batch's 837P, and the batch is listed.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-batch').click()]);
    const x12 = readFileSync(await download.path(), 'utf8');
    assert.match(x12, new RegExp(`CLM\\*${claim.number}\\*60\\*\\*\\*10:B:1`));
    assert.match(x12, /HI\*ABK:J069\*ABF:R059/);
    assert.match(await page.getByTestId('export-status').textContent(), /^Exported [1-9]\d* claims? in batch \d+\.$/);
    const control = /in batch (\d+)/.exec(await page.getByTestId('export-status').textContent())[1];
    await page.getByTestId(`batch-${control}`).waitFor();
    const [again] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`batch-download-${control}`).click()]);
    assert.equal(readFileSync(await again.path(), 'utf8'), x12);

    // The 835: posted, shown, and the claim paid.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-835-'));
    const file = path.join(dir, 'payment.835');
    writeFileSync(file, remittance(`T${viewport.width}`, claim.number));
    await page.getByTestId('remit-file').setInputFiles(file);
    await page.getByTestId('remit-upload').click();
    await page.getByTestId('remit-posted').getByText('Paid: paid $50.00, adjusted $10.00, patient owes $0.00').waitFor();
    assert.equal(await page.getByTestId('remit-held').locator('li').count(), 0);

    // An answer naming no claim of ours is held, with the reason, and stays on the holds list.
    const stranger = `BS9${viewport.width}`;
    const unknown = path.join(dir, 'unknown.835');
    writeFileSync(unknown, remittance(`U${viewport.width}`, stranger));
    await page.getByTestId('remit-file').setInputFiles(unknown);
    await page.getByTestId('remit-upload').click();
    await page.getByTestId('remit-held').getByText(`Claim ${stranger}: no claim has this number`).waitFor();
    assert.equal(await page.getByTestId('remit-posted').locator('li').count(), 0);
    await page.getByTestId('holds-list').getByTestId(`hold-${stranger}`).waitFor();
    await page.getByTestId(`open-claim-${claim.number}`).or(page.getByTestId('count-paid')).first().waitFor();
    await page.getByTestId('count-paid').click();
    await page.getByTestId(`open-claim-${claim.number}`).click();
    await eventually(async () => (await page.getByTestId('claim-status').textContent()) === 'Paid', { message: 'the claim paid' });
    assert.equal(await page.getByTestId('claim-payer-number').textContent(), `PAYERREFT${viewport.width}`);

    // The patient's statement: the charge, the payment and the write-off.
    await page.getByTestId('open-account').click();
    await page.getByTestId('account').waitFor();
    assert.match(await page.getByTestId('account-entries').textContent(), /Insurer payment.*-\$50\.00/);
    await page.evaluate(() => { window.print = () => { window.__printed = true; }; });
    await page.getByTestId('print-statement').click();
    assert.equal(await page.evaluate(() => window.__printed), true);
    await assertAccessible(page, `after posting at ${label}`);
    if (viewport.width === 375) await assertFits(page);
    await page.screenshot({ path: artifactPath(`billing-${viewport.width}.png`), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('a scheduler opening /billing is told it is for billing staff, with a link home', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const problems = watchPage(page, 'scheduler');
  await signIn(page, 'scheduler');
  await page.waitForURL('**/scheduler');
  await page.goto(`${server.base}/billing`);
  await page.getByTestId('billing-forbidden').getByText('This page is for billing staff').waitFor();
  assert.equal(await page.getByTestId('billing-home').getAttribute('href'), '/');
  assert.equal(await page.locator('#console').isHidden(), true);
  await assertAccessible(page, 'billing page for a scheduler');
  assert.deepEqual(problems, []);
  await context.close();
});
