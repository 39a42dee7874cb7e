// Staff pages: sign-in routes each role to its page, a wrong password is
// refused in place, sign-out forgets the session, and each page works at
// 375 px wide and by keyboard. A path that does not exist shows the
// not-found page, with a way back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchChromium, apiFor, artifactPath, watchPage, assertAccessible, assertFits, waitingVisit,
} from './harness.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  await waitingVisit(server, 'Respiratory', { family: 'Hopper', reason: 'Breathless', priority: 'emergent', checkIn: false });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page, username, password = server.accounts[username].password) {
  await page.goto(`${server.base}/`);
  // By keyboard: the fields and the button come in this order.
  await page.getByTestId('username').focus();
  await page.keyboard.type(username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
}

test('the sign-in page passes axe-core at desktop and 375 px wide', async () => {
  for (const viewport of [{ width: 1280, height: 800 }, { width: 375, height: 812 }]) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${server.base}/`);
    await page.getByTestId('sign-in').waitFor();
    await assertAccessible(page, `sign-in at ${viewport.width} px`);
    await context.close();
  }
});

test('a wrong password is refused on the sign-in page', async () => {
  const page = await browser.newPage({ viewport: { width: 375, height: 700 } });
  await signIn(page, 'scheduler', 'not-the-password');
  await page.getByText('The username or password is not right.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  await page.screenshot({ path: artifactPath('sign-in-375.png'), fullPage: true });
  await page.close();
});

for (const [username, home] of [['dr.house', '/clinician'], ['scheduler', '/scheduler'], ['admin', '/scheduler']]) {
  test(`${username} signs in to ${home}, works at 375 px, and signs out leaving nothing behind`, async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const problems = watchPage(page, username);
    await signIn(page, username);
    await page.waitForURL(`**${home}`);
    const hook = home === '/clinician' ? 'queue' : 'queue-board';
    // The queue's heading, not the move-to options that name it too.
    await page.getByTestId(hook).getByRole('heading', { name: /^Respiratory/ }).waitFor();
    if (home === '/scheduler') await page.getByTestId('presence-list').getByText('Dr. Gregory House').waitFor();
    // Nothing is wider than the screen.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width}px wide`);
    await page.screenshot({ path: artifactPath(`${home.slice(1)}-${username}-375.png`), fullPage: true });
    await assertAccessible(page, `${home} of ${username} at 375 px`);

    // The session is in this tab's sessionStorage only, and sign-out wipes it.
    assert.ok(await page.evaluate(() => sessionStorage.length > 0));
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${server.base}/`);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.goBack();
    await page.waitForURL(`${server.base}/`);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('a page whose session was revoked sends the user back to sign in', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await signIn(page, 'dr.grey');
  await page.waitForURL('**/clinician');
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('bedside.session')).token);
  await apiFor(server.base)('/auth/logout', { method: 'POST', token });
  // The page may notice on its own (its socket is refused) and navigate while
  // the reload is under way, aborting it; either way it must land on sign-in.
  await page.reload().catch((error) => {
    if (!/ERR_ABORTED|frame was detached/.test(error.message)) throw error;
  });
  await page.waitForURL(/\/\?signed_out=expired$|\/$/);
  await page.getByText('Your session has ended').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await context.close();
});

for (const width of [1280, 375]) {
  test(`a path that does not exist shows the not-found page at ${width} px, with a link back`, async () => {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    // The 404 itself is logged as a failed resource, which watchPage lets by.
    const problems = watchPage(page, `not found ${width}`);
    const response = await page.goto(`${server.base}/no-such-page`);
    assert.equal(response.status(), 404);
    assert.match(response.headers()['content-security-policy'], /default-src 'self'/);
    await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
    const back = page.getByRole('link', { name: 'Go to the Bedside start page' });
    assert.equal(await back.getAttribute('href'), '/');
    await assertAccessible(page, `the not-found page at ${width} px`);
    await assertFits(page, width);
    await page.screenshot({ path: artifactPath(`not-found-${width}.png`), fullPage: true });
    await back.click();
    await page.waitForURL(`${server.base}/`);
    await page.getByTestId('username').waitFor();
    assert.deepEqual(problems, []);
    await page.close();
  });
}
