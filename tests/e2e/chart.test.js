// The chart beside the call in real Chromium: a clinician adds an allergy
// by choosing its code from the picker with the keyboard alone, sees it
// coded, ends it with a reason and finds it under "Past"; a free-text
// medication shows as uncoded. Checked with axe-core, and at 375 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, eventually,
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

test('a clinician codes an allergy with the keyboard, ends it and finds it under past', async () => {
  const { patient, visit } = await waitingVisit(server, 'Chart clinic', {
    newPatient: { given_name: 'Grace', family_name: 'Hopper', birth_date: '1946-12-09', sex: 'female' },
    reason: 'Rash',
  });
  const problems = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  problems.push(watchPage(page, 'clinician'));
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill('dr.grey');
  await page.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await page.getByTestId('sign-in').click();
  await page.waitForURL('**/clinician');
  await page.getByTestId(`admit-${visit.id}`).click();
  const allergies = page.getByTestId('chart-allergies');
  await allergies.getByText('No known allergies recorded.').waitFor();

  // Open the form and pick Penicillin G from the list by keyboard only.
  await page.getByTestId('add-allergy').focus();
  await page.keyboard.press('Enter');
  const search = page.getByTestId('allergy-search');
  await eventually(() => search.evaluate((el) => el === document.activeElement), { message: 'focus in the search' });
  await page.keyboard.type('penicillin');
  const options = page.getByTestId('allergy-options');
  await page.getByTestId('allergy-option-7980').waitFor();
  assert.equal(await search.getAttribute('aria-expanded'), 'true');
  assert.equal(await options.getAttribute('role'), 'listbox');
  await assertAccessible(page, 'chart, allergy picker open');
  const names = await options.locator('[role=option]').allTextContents();
  const index = names.findIndex((n) => n.startsWith('Penicillin G'));
  assert.ok(index >= 0, `Penicillin G among ${names}`);
  for (let i = 0; i <= index; i += 1) await page.keyboard.press('ArrowDown');
  const active = await search.getAttribute('aria-activedescendant');
  assert.ok(active, 'the input names the active option');
  assert.match(await page.locator(`#${active}`).textContent(), /^Penicillin G/);
  assert.equal(await page.locator(`#${active}`).getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Enter');
  assert.equal(await search.inputValue(), 'Penicillin G');
  assert.equal(await options.isHidden(), true);
  assert.match(await page.getByTestId('allergy-chosen').textContent(), /Coded: RxNorm 7980/);
  await page.keyboard.press('Tab');
  await page.keyboard.type('Hives');
  await page.getByTestId('allergy-severity').selectOption('moderate');
  await page.getByTestId('allergy-save').focus();
  await page.keyboard.press('Enter');

  // It is listed, coded, and the API holds the same.
  const api = apiFor(server.base);
  const { token } = await signInApi(server, 'dr.grey');
  let saved;
  await eventually(async () => {
    [saved] = await api(`/patients/${patient.id}/allergies`, { token });
    return Boolean(saved);
  }, { message: 'allergy saved' });
  assert.equal(saved.code, '7980');
  assert.equal(saved.code_system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
  const item = page.getByTestId(`allergy-${saved.id}`);
  await item.waitFor();
  assert.match(await item.textContent(), /Penicillin G — Hives \(moderate\)/);
  assert.match(await item.textContent(), /RxNorm 7980/);
  assert.equal(await page.getByTestId('allergy-past').count(), 0);

  // A medication typed without choosing from the list is kept uncoded.
  await page.getByTestId('add-medication').click();
  await page.getByTestId('medication-search').fill('Grandma\'s herbal tea');
  await page.getByTestId('medication-save').click();
  await eventually(async () => /uncoded/.test(await page.getByTestId('chart-medications').textContent()), { message: 'uncoded medication' });

  // End it, with a confirmation and a reason; it moves under Past.
  await page.getByTestId(`end-allergy-${saved.id}`).focus();
  await page.keyboard.press('Enter');
  await page.getByTestId(`end-status-${saved.id}`).selectOption('resolved');
  await page.getByTestId(`end-reason-${saved.id}`).fill('Tolerated a supervised challenge');
  await assertAccessible(page, 'chart, ending an allergy');
  await page.getByTestId(`confirm-end-allergy-${saved.id}`).click();
  const past = page.getByTestId('allergy-past');
  await past.waitFor();
  await allergies.getByText('No current allergies.').waitFor();
  assert.equal(await past.evaluate((el) => el.open), false, 'past is folded');
  assert.match(await past.locator('summary').textContent(), /Past \(1\)/);
  await past.locator('summary').click();
  const ended = past.getByTestId(`allergy-${saved.id}`);
  assert.match(await ended.textContent(), /Penicillin G/);
  assert.match(await ended.textContent(), /resolved/);
  assert.match(await ended.textContent(), /Tolerated a supervised challenge/);
  const [after] = await api(`/patients/${patient.id}/allergies`, { token });
  assert.equal(after.status, 'resolved');

  await assertAccessible(page, 'chart with a past allergy');
  assert.doesNotMatch(await page.locator('#chart').textContent(), /null|undefined/);
  await page.setViewportSize({ width: 375, height: 800 });
  await page.getByTestId('add-problem').click();
  await page.getByTestId('problem-search').fill('urticaria');
  await page.getByTestId('problem-options').locator('[role=option]').first().waitFor();
  await assertFits(page);
  await assertAccessible(page, 'chart at 375 px');
  await page.getByTestId('chart-conditions').scrollIntoViewIfNeeded();
  await page.screenshot({ path: artifactPath('clinician-chart-375.png'), fullPage: true });
  assert.deepEqual(problems.flat(), []);
  await context.close();
});
