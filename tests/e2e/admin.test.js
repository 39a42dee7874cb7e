// The admin console and staff two-step sign-in: an admin adds a user and
// checks the audit chain; that user signs in, sets up TOTP from their own
// page, signs out and signs in again with a code. Codes come from a small
// RFC 6238 implementation here, over node's crypto, from the key the page
// shows. At desktop width and 375 px; axe-core on each page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  startServer, launchChromium, watchPage, assertAccessible, assertFits, artifactPath,
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

/** RFC 4648 base32 to bytes (spaces ignored). */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const value = alphabet.indexOf(c);
    if (value < 0) throw new Error(`not base32: ${c}`);
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: HMAC-SHA-1, 30 s steps, six digits. */
function totp(secret, unixMs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixMs / 1000 / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

test('the RFC 6238 helper gives the published SHA-1 code', () => {
  // Appendix B: key "12345678901234567890", T = 59 s, eight digits 94287082.
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
});

async function signIn(page, username, password) {
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').focus();
  await page.keyboard.type(username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
}

const NEW_USER = { username: 'nurse.ng', display: 'Nurse Ng', password: 'a-first-password-9' };

test('an admin adds a user who sets up two-step sign-in and signs in with a code', async () => {
  // The admin, at desktop width.
  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await adminContext.newPage();
  const adminProblems = watchPage(admin, 'admin');
  const { password } = server.accounts.admin;
  await signIn(admin, 'admin', password);
  await admin.waitForURL('**/scheduler');
  await admin.getByTestId('admin-link').click();
  await admin.waitForURL('**/admin');
  await admin.getByTestId('users-table').locator('[data-username="admin"]').waitFor();
  await assertAccessible(admin, 'admin console');

  await admin.getByTestId('new-username').fill(NEW_USER.username);
  await admin.getByTestId('new-display-name').fill(NEW_USER.display);
  await admin.getByTestId('new-role').selectOption('scheduler');
  await admin.getByTestId('new-password').fill(NEW_USER.password);
  await admin.getByTestId('add-user').click();
  const row = admin.getByTestId('users-table').locator(`[data-username="${NEW_USER.username}"]`);
  await row.waitFor();
  assert.equal(await row.getByTestId('user-last-sign-in').textContent(), 'never');

  await admin.getByTestId('audit-action').fill('user.create');
  await admin.getByTestId('audit-search').click();
  await admin.getByTestId('audit-row').first().getByText('user.create').waitFor();
  await admin.getByTestId('audit-verify').click();
  await admin.getByTestId('chain-result').getByText(/^The trail is intact: \d+ events\.$/).waitFor();
  await assertAccessible(admin, 'admin console with the audit log');
  await admin.screenshot({ path: artifactPath('admin-1280.png'), fullPage: true });

  // The new user, on a phone.
  const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const problems = watchPage(page, NEW_USER.username);
  await signIn(page, NEW_USER.username, NEW_USER.password);
  await page.waitForURL('**/scheduler');
  // Not an admin: the console says so, with a way home.
  await page.goto(`${server.base}/admin`);
  await page.getByTestId('admin-only').getByText('This page is for administrators').waitFor();
  await assertFits(page);
  await assertAccessible(page, 'admin console refusing a scheduler at 375 px');

  await page.goto(`${server.base}/scheduler`);
  await page.getByTestId('account-link').click();
  await page.getByTestId('mfa-setup').click();
  await page.getByTestId('mfa-qr').waitFor();
  assert.match(await page.getByTestId('mfa-qr').getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  const secret = (await page.getByTestId('mfa-secret').textContent()).replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await assertFits(page);
  await assertAccessible(page, 'two-step setup at 375 px');
  await page.getByTestId('mfa-enrol-code').fill(totp(secret, Date.now()));
  await page.getByTestId('mfa-confirm').click();
  await page.getByTestId('recovery-codes').locator('li').nth(9).waitFor();
  assert.equal(await page.getByTestId('recovery-codes').locator('li').count(), 10);
  await assertAccessible(page, 'recovery codes at 375 px');
  await page.getByTestId('recovery-done').click();
  await page.getByTestId('sign-out').click();
  await page.waitForURL(`${server.base}/`);

  // Signing in again asks for a code; a wrong one is refused in place.
  await signIn(page, NEW_USER.username, NEW_USER.password);
  await page.getByTestId('mfa-code').waitFor();
  await assertFits(page);
  await assertAccessible(page, 'the code step at 375 px');
  const next = totp(secret, Date.now() + 30_000);
  const wrong = next === '000000' ? '111111' : '000000';
  await page.getByTestId('mfa-code').fill(wrong);
  await page.getByTestId('mfa-submit').click();
  await page.getByText('the code is wrong or was already used').waitFor();
  // The code of the next 30 s step: the server allows one step either side,
  // and the step of the setup code cannot be used again.
  await page.getByTestId('mfa-code').fill(next);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/scheduler');
  await page.screenshot({ path: artifactPath('mfa-signed-in-375.png'), fullPage: true });

  // The admin sees the sign-in and that two-step sign-in is on.
  await admin.reload();
  await row.getByTestId('user-status').getByText('two-step on').waitFor();
  assert.notEqual(await row.getByTestId('user-last-sign-in').textContent(), 'never');

  // The admin at 375 px too.
  await admin.setViewportSize({ width: 375, height: 812 });
  await assertFits(admin);
  await assertAccessible(admin, 'admin console at 375 px');
  await admin.screenshot({ path: artifactPath('admin-375.png'), fullPage: true });

  assert.deepEqual(problems, []);
  assert.deepEqual(adminProblems, []);
  await context.close();
  await adminContext.close();
});
